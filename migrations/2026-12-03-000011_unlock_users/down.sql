DELETE FROM api_permissions WHERE method = 'POST' AND path_pattern = '/users/{id}/unlock';
