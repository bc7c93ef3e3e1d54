DELETE FROM api_permissions WHERE method = 'POST' AND path_pattern = '/nodes/{id}/maintenance';
ALTER TABLE nodes DROP COLUMN maintenance;
