-- Browsers ask for /favicon.ico when a page names no icon (JSON answers, downloads):
-- everyone gets the panel's icon.
INSERT INTO api_permissions (method, path_pattern, description, allowed_roles) VALUES
    ('GET', '/favicon.ico', 'the browser icon (redirects to static/favicon.svg)', '{anonymous,admin,customer_owner,customer_member}');
