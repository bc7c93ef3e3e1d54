-- Logs and the browser terminal of an instance. The WebSocket routes are GETs: the
-- gate enforces these records; the handlers also check Origin and a CSRF parameter.
INSERT INTO api_permissions (method, path_pattern, description, allowed_roles) VALUES
    ('GET', '/instances/{id}/logs', '实例: logs page', '{admin,customer_owner,customer_member}'),
    ('GET', '/instances/{id}/logs/ws', '实例: logs WebSocket (docker logs --follow)', '{admin,customer_owner,customer_member}'),
    ('GET', '/instances/{id}/logs/download', '实例: download the full log', '{admin,customer_owner,customer_member}'),
    ('GET', '/instances/{id}/terminal', '实例: terminal page', '{admin,customer_owner,customer_member}'),
    ('GET', '/instances/{id}/terminal/ws', '实例: terminal WebSocket (docker exec with a TTY)', '{admin,customer_owner,customer_member}');
