-- The instance page (/instances/{id}) and what it shows of an instance's history: one
-- event when it is created, when its phase changes (ready, failed with the reason,
-- deleting) and when its container's status changes (running, exited, …). A trigger
-- writes them, so that every writer (the web, the jumpbox, the status worker, crash
-- recovery) is recorded the same way; they go with the instance.
CREATE TABLE instance_events (
    id          BIGSERIAL PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    -- 'created', 'phase' or 'status'
    kind        TEXT NOT NULL CHECK (kind IN ('created', 'phase', 'status')),
    -- the new phase or status ('' for created)
    value       TEXT NOT NULL DEFAULT '',
    -- the instance's message at that moment (a failure's reason)
    detail      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX instance_events_by_instance ON instance_events (instance_id, id);

CREATE FUNCTION record_instance_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO instance_events (instance_id, kind) VALUES (NEW.id, 'created');
        RETURN NULL;
    END IF;
    IF NEW.phase IS DISTINCT FROM OLD.phase THEN
        INSERT INTO instance_events (instance_id, kind, value, detail)
        VALUES (NEW.id, 'phase', NEW.phase, NEW.message);
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NEW.status <> '' THEN
        INSERT INTO instance_events (instance_id, kind, value, detail)
        VALUES (NEW.id, 'status', NEW.status, NEW.message);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER instances_events AFTER INSERT OR UPDATE OF phase, status ON instances
    FOR EACH ROW EXECUTE FUNCTION record_instance_event();

INSERT INTO api_permissions (method, path_pattern, description, allowed_roles) VALUES
    ('GET', '/instances/{id}', '实例: the instance page (details, connection, events, actions)', '{admin,customer_owner,customer_member}');
