-- GPU instances on Docker nodes: placement (resources and GPU indices held), the
-- container's live state, and the node's reachability as the status worker sees it.

-- The resources an instance holds are copied from its spec when it is placed: editing a
-- spec later changes neither running containers nor the capacity they hold.
ALTER TABLE instances
    ADD COLUMN gpu_count      INT NOT NULL DEFAULT 0 CHECK (gpu_count >= 0),
    ADD COLUMN cpu_cores      INT NOT NULL DEFAULT 0 CHECK (cpu_cores >= 0),
    ADD COLUMN memory_gb      INT NOT NULL DEFAULT 0 CHECK (memory_gb >= 0),
    ADD COLUMN system_disk_gb INT NOT NULL DEFAULT 0 CHECK (system_disk_gb >= 0),
    ADD COLUMN data_disk_gb   INT NOT NULL DEFAULT 0 CHECK (data_disk_gb >= 0),
    -- the node's GPUs (0..N-1) this instance holds; disjoint from every other live
    -- instance on the node (placement locks the node row)
    ADD COLUMN gpu_indices    INT[] NOT NULL DEFAULT '{}',
    -- lifecycle as the panel drives it: creating -> ready | failed; ready -> deleting
    ADD COLUMN phase          TEXT NOT NULL DEFAULT 'creating'
        CHECK (phase IN ('creating', 'ready', 'failed', 'deleting')),
    -- progress while creating (image pull), or the engine's message after a failure
    ADD COLUMN message        TEXT NOT NULL DEFAULT '',
    -- false when the engine refused --storage-opt size and the container runs without
    -- a system-disk quota
    ADD COLUMN disk_quota     BOOLEAN NOT NULL DEFAULT TRUE,
    ADD COLUMN volume_name    TEXT NOT NULL DEFAULT '';
-- `status` is the container's state as Docker reports it (created, running, exited,
-- paused, restarting, dead, removing), '' before the container exists, 'missing' when
-- the engine no longer knows the container.
ALTER TABLE instances ALTER COLUMN status SET DEFAULT '';
UPDATE instances SET status = '' WHERE status = 'creating';

-- Names are container host names: unique across the panel (the jumpbox enters by name).
CREATE UNIQUE INDEX instances_name_key ON instances (name);
-- Capacity per node: an index-only scan over the live instances of the candidate nodes.
CREATE INDEX instances_node_live_idx ON instances (node_id)
    INCLUDE (gpu_count, cpu_cores, memory_gb, system_disk_gb, data_disk_gb)
    WHERE phase <> 'failed';
-- Lists newest first, per scope.
DROP INDEX instances_owner_idx;
DROP INDEX instances_company_idx;
CREATE INDEX instances_owner_idx ON instances (owner_id, id);
CREATE INDEX instances_company_idx ON instances (company_id, id);

-- What the status worker last saw of the node's Docker engine.
ALTER TABLE nodes
    ADD COLUMN docker_state   TEXT NOT NULL DEFAULT 'unknown'
        CHECK (docker_state IN ('unknown', 'ok', 'unreachable')),
    ADD COLUMN docker_error   TEXT NOT NULL DEFAULT '',
    ADD COLUMN docker_seen_at TIMESTAMPTZ;

INSERT INTO api_permissions (method, path_pattern, description, allowed_roles) VALUES
    ('GET', '/instances', '实例: list', '{admin,customer_owner,customer_member}'),
    ('GET', '/instances/new', '实例: wizard (steps as partials)', '{admin,customer_owner,customer_member}'),
    ('GET', '/instances/new/nodes', '实例: nodes whose free capacity fits the chosen spec', '{admin,customer_owner,customer_member}'),
    ('POST', '/instances', '实例: create (place and start the container)', '{admin,customer_owner,customer_member}'),
    ('GET', '/instances/{id}/row', '实例: one row (live status)', '{admin,customer_owner,customer_member}'),
    ('POST', '/instances/{id}/start', '实例: start', '{admin,customer_owner,customer_member}'),
    ('POST', '/instances/{id}/stop', '实例: stop', '{admin,customer_owner,customer_member}'),
    ('POST', '/instances/{id}/restart', '实例: restart', '{admin,customer_owner,customer_member}'),
    ('POST', '/instances/{id}/delete', '实例: delete container, data volume and row', '{admin,customer_owner,customer_member}');
