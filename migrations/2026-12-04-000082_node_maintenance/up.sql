-- 维护中 (maintenance): an admin takes a node out of the wizard and of placement while
-- it is worked on; its running instances are left alone.
ALTER TABLE nodes ADD COLUMN maintenance BOOLEAN NOT NULL DEFAULT false;

INSERT INTO api_permissions (method, path_pattern, description, allowed_roles) VALUES
    ('POST', '/nodes/{id}/maintenance', '算力节点: maintenance on / off', '{admin}');
