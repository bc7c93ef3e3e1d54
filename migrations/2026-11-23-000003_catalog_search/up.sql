-- Catalog search: one generated text column per catalog table holding the searched
-- fields, with a trigram GIN index so `ILIKE '%q%'` does not scan the table.
-- pg_trgm is a trusted extension (PostgreSQL >= 13): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE images ADD COLUMN search TEXT NOT NULL
    GENERATED ALWAYS AS (name || ' ' || address) STORED;
ALTER TABLE nodes ADD COLUMN search TEXT NOT NULL
    GENERATED ALWAYS AS (name || ' ' || region || ' ' || public_ip || ' ' || gpu_model) STORED;
ALTER TABLE specs ADD COLUMN search TEXT NOT NULL
    GENERATED ALWAYS AS (name || ' ' || gpu_model) STORED;

CREATE INDEX images_search_trgm ON images USING gin (search gin_trgm_ops);
CREATE INDEX nodes_search_trgm ON nodes USING gin (search gin_trgm_ops);
CREATE INDEX specs_search_trgm ON specs USING gin (search gin_trgm_ops);
