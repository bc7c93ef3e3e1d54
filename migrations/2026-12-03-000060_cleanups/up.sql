-- What a stopped server (or a create that failed halfway) left behind and has not been
-- able to remove yet: an LXD container of a ZJMF create (its lxd_containers row stays,
-- still `creating`, until LXD no longer knows the container) or the container, volume
-- and network of an instance whose creation was cut off (the instance stays `failed`).
-- ops::recovery retries each until it is gone; the admin's LXD page lists the LXD ones.
CREATE TABLE cleanups (
    id BIGSERIAL PRIMARY KEY,
    hostname TEXT UNIQUE REFERENCES lxd_containers (hostname) ON DELETE CASCADE,
    instance_id BIGINT UNIQUE REFERENCES instances (id) ON DELETE CASCADE,
    since TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    last_try TIMESTAMPTZ,
    CHECK ((hostname IS NULL) <> (instance_id IS NULL))
);
