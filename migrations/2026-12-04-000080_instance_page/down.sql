DELETE FROM api_permissions WHERE method = 'GET' AND path_pattern = '/instances/{id}';
DROP TRIGGER instances_events ON instances;
DROP FUNCTION record_instance_event();
DROP TABLE instance_events;
