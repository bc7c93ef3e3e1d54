-- The plugin's reinstall call (POST /api/reinstall), for the API key role only.
INSERT INTO api_permissions (method, path_pattern, description, allowed_roles) VALUES
    ('POST', '/api/reinstall', 'ZJMF: rebuild a container from an image', '{zjmf}');
