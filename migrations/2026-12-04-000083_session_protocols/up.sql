-- The jumpbox's file transfers (sftp, scp) and port forwards (ssh -L) are sessions too.
ALTER TABLE sessions DROP CONSTRAINT sessions_protocol_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_protocol_check
    CHECK (protocol IN ('ssh', 'web', 'sftp', 'tunnel'));
