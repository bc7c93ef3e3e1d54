DELETE FROM api_permissions WHERE method = 'POST' AND path_pattern = '/api/reinstall';
