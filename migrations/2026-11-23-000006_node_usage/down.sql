DROP INDEX instances_node_gpus_idx;
CREATE INDEX instances_node_live_idx ON instances (node_id)
    INCLUDE (gpu_count, cpu_cores, memory_gb, system_disk_gb, data_disk_gb)
    WHERE phase <> 'failed';
DROP TRIGGER instances_node_usage ON instances;
DROP FUNCTION track_node_usage();
DROP TRIGGER nodes_usage_row ON nodes;
DROP FUNCTION add_node_usage();
DROP TABLE node_usage;
DROP FUNCTION instance_holds(TEXT, TEXT);
