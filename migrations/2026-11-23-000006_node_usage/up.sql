-- What the live instances on each node hold, kept current by triggers, so that the
-- wizard's node query and placement read one row per node instead of summing its
-- instances (1,000 nodes with 50,000 instances made the sum the slow part).

-- Whether an instance holds its node's capacity: while it is created or runs, and while
-- a running one is being deleted. A failed instance holds nothing (its container and
-- GPUs were given back), nor does a failed one being deleted.
CREATE FUNCTION instance_holds(phase TEXT, container_id TEXT) RETURNS BOOLEAN
    LANGUAGE sql IMMUTABLE AS
$$ SELECT phase IN ('creating', 'ready') OR (phase = 'deleting' AND container_id <> '') $$;

CREATE TABLE node_usage (
    node_id        BIGINT PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,
    gpu_count      INT NOT NULL DEFAULT 0 CHECK (gpu_count >= 0),
    cpu_cores      INT NOT NULL DEFAULT 0 CHECK (cpu_cores >= 0),
    memory_gb      INT NOT NULL DEFAULT 0 CHECK (memory_gb >= 0),
    system_disk_gb INT NOT NULL DEFAULT 0 CHECK (system_disk_gb >= 0),
    data_disk_gb   INT NOT NULL DEFAULT 0 CHECK (data_disk_gb >= 0)
);

INSERT INTO node_usage (node_id, gpu_count, cpu_cores, memory_gb, system_disk_gb, data_disk_gb)
SELECT n.id,
       COALESCE(sum(i.gpu_count), 0), COALESCE(sum(i.cpu_cores), 0),
       COALESCE(sum(i.memory_gb), 0), COALESCE(sum(i.system_disk_gb), 0),
       COALESCE(sum(i.data_disk_gb), 0)
FROM nodes n
LEFT JOIN instances i ON i.node_id = n.id AND instance_holds(i.phase, i.container_id)
GROUP BY n.id;

-- Every node has its usage row from the start.
CREATE FUNCTION add_node_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO node_usage (node_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER nodes_usage_row AFTER INSERT ON nodes
    FOR EACH ROW EXECUTE FUNCTION add_node_usage();

-- An instance's resources leave its node's usage when it stops holding them (failed,
-- deleted) and join it when it starts (placed).
CREATE FUNCTION track_node_usage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was BOOLEAN := TG_OP <> 'INSERT' AND instance_holds(OLD.phase, OLD.container_id);
    now_holds BOOLEAN := TG_OP <> 'DELETE' AND instance_holds(NEW.phase, NEW.container_id);
BEGIN
    IF TG_OP = 'UPDATE' AND was = now_holds AND OLD.node_id = NEW.node_id
       AND (OLD.gpu_count, OLD.cpu_cores, OLD.memory_gb, OLD.system_disk_gb, OLD.data_disk_gb)
         = (NEW.gpu_count, NEW.cpu_cores, NEW.memory_gb, NEW.system_disk_gb, NEW.data_disk_gb)
    THEN
        RETURN NULL;
    END IF;
    IF was THEN
        UPDATE node_usage SET gpu_count = gpu_count - OLD.gpu_count,
                              cpu_cores = cpu_cores - OLD.cpu_cores,
                              memory_gb = memory_gb - OLD.memory_gb,
                              system_disk_gb = system_disk_gb - OLD.system_disk_gb,
                              data_disk_gb = data_disk_gb - OLD.data_disk_gb
        WHERE node_id = OLD.node_id;
    END IF;
    IF now_holds THEN
        UPDATE node_usage SET gpu_count = gpu_count + NEW.gpu_count,
                              cpu_cores = cpu_cores + NEW.cpu_cores,
                              memory_gb = memory_gb + NEW.memory_gb,
                              system_disk_gb = system_disk_gb + NEW.system_disk_gb,
                              data_disk_gb = data_disk_gb + NEW.data_disk_gb
        WHERE node_id = NEW.node_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER instances_node_usage
    AFTER INSERT OR DELETE OR UPDATE OF phase, container_id, node_id, gpu_count, cpu_cores,
        memory_gb, system_disk_gb, data_disk_gb
    ON instances FOR EACH ROW EXECUTE FUNCTION track_node_usage();

-- Placement still reads the GPU indices the node's instances hold.
DROP INDEX instances_node_live_idx;
CREATE INDEX instances_node_gpus_idx ON instances (node_id) INCLUDE (gpu_indices)
    WHERE cardinality(gpu_indices) > 0;
