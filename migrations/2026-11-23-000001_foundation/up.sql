-- Foundation: accounts, tenants, roles, catalog, route permissions, audit log.

CREATE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO roles (name, description) VALUES
    ('admin', 'platform administrator'),
    ('customer_owner', 'sees and acts on every instance of their company'),
    ('customer_member', 'sees and acts on their own instances');

CREATE TABLE companies (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    remark     TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id                   BIGSERIAL PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL DEFAULT '',
    password_hash        TEXT NOT NULL,
    role                 TEXT NOT NULL REFERENCES roles (name),
    company_id           BIGINT REFERENCES companies (id) ON DELETE RESTRICT,
    disabled             BOOLEAN NOT NULL DEFAULT false,
    must_change_password BOOLEAN NOT NULL DEFAULT true,
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    locked_until         TIMESTAMPTZ,
    -- bumped on disable, password change and reset: live sessions carry the epoch
    -- they were issued under and stop working when it moves.
    session_epoch        INTEGER NOT NULL DEFAULT 0,
    last_login_at        TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT admin_has_no_company CHECK (role <> 'admin' OR company_id IS NULL),
    CONSTRAINT owner_has_company CHECK (role <> 'customer_owner' OR company_id IS NOT NULL)
);
CREATE INDEX users_company_idx ON users (company_id);

CREATE TABLE images (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    address     TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL DEFAULT '',
    listed      BOOLEAN NOT NULL DEFAULT true,
    remark      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE nodes (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    region          TEXT NOT NULL DEFAULT '',
    cpu_cores       INTEGER NOT NULL DEFAULT 0 CHECK (cpu_cores >= 0),
    memory_gb       INTEGER NOT NULL DEFAULT 0 CHECK (memory_gb >= 0),
    system_disk_gb  INTEGER NOT NULL DEFAULT 0 CHECK (system_disk_gb >= 0),
    data_disk_gb    INTEGER NOT NULL DEFAULT 0 CHECK (data_disk_gb >= 0),
    public_ip       TEXT NOT NULL,
    private_ip      TEXT NOT NULL,
    ssh_port        INTEGER NOT NULL DEFAULT 22 CHECK (ssh_port BETWEEN 1 AND 65535),
    username        TEXT NOT NULL DEFAULT '',
    -- AES-256-GCM under the master key: nonce || ciphertext+tag
    password_enc    BYTEA,
    gpu_model       TEXT NOT NULL DEFAULT '',
    gpu_count       INTEGER NOT NULL DEFAULT 0 CHECK (gpu_count >= 0),
    docker_endpoint TEXT NOT NULL DEFAULT '',
    use_tls         BOOLEAN NOT NULL DEFAULT true,
    ca_cert         TEXT NOT NULL DEFAULT '',
    client_cert     TEXT NOT NULL DEFAULT '',
    client_key_enc  BYTEA,
    listed          BOOLEAN NOT NULL DEFAULT true,
    remark          TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE specs (
    id                   BIGSERIAL PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    gpu_model            TEXT NOT NULL,
    gpu_count            INTEGER NOT NULL DEFAULT 0 CHECK (gpu_count >= 0),
    cpu_cores            INTEGER NOT NULL DEFAULT 0 CHECK (cpu_cores >= 0),
    memory_gb            INTEGER NOT NULL DEFAULT 0 CHECK (memory_gb >= 0),
    system_disk_gb       INTEGER NOT NULL DEFAULT 0 CHECK (system_disk_gb >= 0),
    data_disk_gb         INTEGER NOT NULL DEFAULT 0 CHECK (data_disk_gb >= 0),
    -- money in fen (0.01 CNY) to stay exact
    price_per_hour_cents BIGINT NOT NULL DEFAULT 0 CHECK (price_per_hour_cents >= 0),
    listed               BOOLEAN NOT NULL DEFAULT true,
    remark               TEXT NOT NULL DEFAULT '',
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Instances arrive with the instances issue; the table exists now so that the catalog
-- rows they reference cannot be deleted (ON DELETE RESTRICT is the "in use" check).
CREATE TABLE instances (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL,
    image_id     BIGINT NOT NULL REFERENCES images (id) ON DELETE RESTRICT,
    spec_id      BIGINT NOT NULL REFERENCES specs (id) ON DELETE RESTRICT,
    node_id      BIGINT NOT NULL REFERENCES nodes (id) ON DELETE RESTRICT,
    owner_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    company_id   BIGINT REFERENCES companies (id) ON DELETE RESTRICT,
    container_id TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'creating',
    remark       TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX instances_owner_idx ON instances (owner_id);
CREATE INDEX instances_company_idx ON instances (company_id);
CREATE INDEX instances_node_idx ON instances (node_id);

CREATE TABLE api_permissions (
    id            BIGSERIAL PRIMARY KEY,
    method        TEXT NOT NULL,
    path_pattern  TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    -- role names, plus the pseudo role 'anonymous' for routes open to everyone
    allowed_roles TEXT[] NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (method, path_pattern)
);

CREATE TABLE audit_logs (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT REFERENCES users (id) ON DELETE SET NULL,
    username      TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    method        TEXT NOT NULL DEFAULT '',
    path          TEXT NOT NULL DEFAULT '',
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL DEFAULT '',
    resource_id   TEXT NOT NULL DEFAULT '',
    status        INTEGER NOT NULL DEFAULT 0,
    detail        TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_created_idx ON audit_logs (created_at DESC);
CREATE INDEX audit_logs_user_idx ON audit_logs (user_id);
CREATE INDEX audit_logs_resource_idx ON audit_logs (resource_type, created_at DESC);

-- trigram-free search stays simple: lower(name) prefix/contains via ILIKE on small tables;
-- sorting indexes for the large catalog lists.
CREATE INDEX images_created_idx ON images (created_at);
CREATE INDEX nodes_created_idx ON nodes (created_at);
CREATE INDEX specs_created_idx ON specs (created_at);

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['roles','companies','users','images','nodes','specs','instances','api_permissions','audit_logs'] LOOP
        EXECUTE format('CREATE TRIGGER %I_updated_at BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()', t, t);
    END LOOP;
END $$;
