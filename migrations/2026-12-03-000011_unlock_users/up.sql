-- Admins lift an account's login lock from the users page.
INSERT INTO api_permissions (method, path_pattern, description, allowed_roles) VALUES
    ('POST', '/users/{id}/unlock', 'users: unlock after failed logins', '{admin}');
