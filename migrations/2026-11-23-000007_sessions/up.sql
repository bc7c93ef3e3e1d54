-- Terminal sessions on instances, whichever door they came through: the SSH jumpbox
-- ('ssh') or the browser terminal ('web'). One row per shell or command on an instance;
-- the session management and recording issue builds on it. Names are copied so a row
-- stays readable after the user or instance is gone.
CREATE TABLE sessions (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT REFERENCES users (id) ON DELETE SET NULL,
    username      TEXT NOT NULL,
    source_ip     TEXT NOT NULL DEFAULT '',
    instance_id   BIGINT REFERENCES instances (id) ON DELETE SET NULL,
    instance_name TEXT NOT NULL,
    node_name     TEXT NOT NULL DEFAULT '',
    protocol      TEXT NOT NULL CHECK (protocol IN ('ssh', 'web')),
    -- the one-shot command (`ssh … name -- cmd`); '' for an interactive shell
    command       TEXT NOT NULL DEFAULT '',
    started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at      TIMESTAMPTZ,
    -- keystrokes and data sent to the container / output received from it
    bytes_in      BIGINT NOT NULL DEFAULT 0 CHECK (bytes_in >= 0),
    bytes_out     BIGINT NOT NULL DEFAULT 0 CHECK (bytes_out >= 0),
    -- exit (the shell ended), client (the user closed), idle, revoked, error, server_stopped
    end_reason    TEXT NOT NULL DEFAULT '',
    exit_code     INT
);
CREATE INDEX sessions_started_idx ON sessions (started_at DESC);
CREATE INDEX sessions_user_idx ON sessions (user_id, started_at DESC);
CREATE INDEX sessions_instance_idx ON sessions (instance_id);
CREATE INDEX sessions_live_idx ON sessions (id) WHERE ended_at IS NULL;

INSERT INTO api_permissions (method, path_pattern, description, allowed_roles) VALUES
    ('GET', '/settings', '系统设置: jumpbox address and host key fingerprint', '{admin}');
