-- What the first start did once and must not do again (e.g. 'local_node': the engine on
-- this host was registered as a node, or nodes already existed; a deleted `local` is not
-- made again on the next start).
CREATE TABLE first_run (
    step    TEXT PRIMARY KEY,
    done_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
