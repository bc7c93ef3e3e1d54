ALTER TABLE nodes DROP COLUMN ssh_host_key;
DELETE FROM sessions WHERE protocol IN ('sftp', 'tunnel');
ALTER TABLE sessions DROP CONSTRAINT sessions_protocol_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_protocol_check
    CHECK (protocol IN ('ssh', 'web'));
