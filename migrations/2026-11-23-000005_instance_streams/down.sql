DELETE FROM api_permissions WHERE method = 'GET' AND path_pattern IN (
    '/instances/{id}/logs', '/instances/{id}/logs/ws', '/instances/{id}/logs/download',
    '/instances/{id}/terminal', '/instances/{id}/terminal/ws');
