-- The door each audited event came through: web (pages, forms, the web terminal), ssh
-- (the jumpbox) or api (the ZJMF plugin), for the audit page's column and filter
-- (issue 17). New rows get it from domain::audit::Door::of; older ones by the same rule:
-- events name their door in `method` (WEB, SSH, API), requests carry the HTTP method and
-- /api/ paths are the plugin's.
ALTER TABLE audit_logs ADD COLUMN door TEXT NOT NULL DEFAULT 'web'
    CHECK (door IN ('web', 'ssh', 'api'));
UPDATE audit_logs SET door = 'ssh' WHERE method = 'SSH';
UPDATE audit_logs SET door = 'api' WHERE method = 'API' OR path = '/api' OR path LIKE '/api/%';
CREATE INDEX audit_logs_door ON audit_logs (door, created_at DESC);
