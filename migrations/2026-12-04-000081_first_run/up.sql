-- What the first start did once and must not do again (e.g. 'local_node': the engine on
-- this host was registered as a node, or nodes already existed; a deleted `local` is not
-- made again on the next start).
CREATE TABLE first_run (
    step    TEXT PRIMARY KEY,
    done_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- 测试连接 on the node form: the engine's facts, from the endpoint typed in.
INSERT INTO api_permissions (method, path_pattern, description, allowed_roles) VALUES
    ('POST', '/nodes/probe', '算力节点: test the connection (the engine''s facts)', '{admin}');
