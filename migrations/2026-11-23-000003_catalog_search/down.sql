ALTER TABLE images DROP COLUMN search;
ALTER TABLE nodes DROP COLUMN search;
ALTER TABLE specs DROP COLUMN search;
-- pg_trgm stays: other objects may use it, and it is harmless.
