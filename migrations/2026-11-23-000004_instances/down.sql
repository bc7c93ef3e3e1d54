DELETE FROM api_permissions WHERE path_pattern LIKE '/instances%';
ALTER TABLE nodes DROP COLUMN docker_state, DROP COLUMN docker_error, DROP COLUMN docker_seen_at;
DROP INDEX instances_node_live_idx;
DROP INDEX instances_name_key;
DROP INDEX instances_owner_idx;
DROP INDEX instances_company_idx;
CREATE INDEX instances_owner_idx ON instances (owner_id);
CREATE INDEX instances_company_idx ON instances (company_id);
ALTER TABLE instances ALTER COLUMN status SET DEFAULT 'creating';
ALTER TABLE instances
    DROP COLUMN gpu_count, DROP COLUMN cpu_cores, DROP COLUMN memory_gb,
    DROP COLUMN system_disk_gb, DROP COLUMN data_disk_gb, DROP COLUMN gpu_indices,
    DROP COLUMN phase, DROP COLUMN message, DROP COLUMN disk_quota, DROP COLUMN volume_name;
