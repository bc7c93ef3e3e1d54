DELETE FROM api_permissions WHERE path_pattern IN
    ('/account/sessions', '/account/sessions/{id}/end', '/users/{id}/sessions/end');
DROP TABLE login_sessions;
