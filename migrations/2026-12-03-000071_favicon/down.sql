DELETE FROM api_permissions WHERE method = 'GET' AND path_pattern = '/favicon.ico';
