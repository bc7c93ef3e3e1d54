-- Browser login sessions (登录会话), kept server-side: the cookie carries a random id,
-- this table only its SHA-256. Logout, a password change, disabling and a reset end
-- them at once; users list and end their own, admins end all of a user's.
CREATE TABLE login_sessions (
    id BIGSERIAL PRIMARY KEY,
    -- hex SHA-256 of the random id in the (encrypted) session cookie
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    ended_at TIMESTAMPTZ,
    -- logout, ended_by_user, ended_by_admin, password_changed, password_reset, disabled
    end_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX login_sessions_live ON login_sessions (user_id) WHERE ended_at IS NULL;

INSERT INTO api_permissions (method, path_pattern, description, allowed_roles) VALUES
    ('GET', '/account/sessions', 'own login sessions: list', '{admin,customer_owner,customer_member}'),
    ('POST', '/account/sessions/{id}/end', 'own login sessions: end one', '{admin,customer_owner,customer_member}'),
    ('POST', '/users/{id}/sessions/end', 'users: end all sessions', '{admin}');
