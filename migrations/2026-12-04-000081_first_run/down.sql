DELETE FROM api_permissions WHERE method = 'POST' AND path_pattern = '/nodes/probe';
DROP TABLE first_run;
