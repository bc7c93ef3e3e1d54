DELETE FROM api_permissions WHERE path_pattern LIKE '/api/%' OR path_pattern LIKE '/lxd%';
DROP TABLE nat_rules;
DROP TABLE lxd_containers;
