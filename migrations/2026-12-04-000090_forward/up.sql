-- The jumpbox's port forwards (ssh -L, issue 18): each forward is a sessions row with
-- protocol 'tunnel' ('sftp' is the subsystem's, allowed here too so the two can land
-- in either order).
ALTER TABLE sessions DROP CONSTRAINT sessions_protocol_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_protocol_check
    CHECK (protocol IN ('ssh', 'web', 'sftp', 'tunnel'));

-- A node's SSH host key (OpenSSH "type base64"), learnt on the panel's first SSH
-- connection to it (trust on first use) and required to match from then on.
-- NULL: not learnt yet. Clearing it makes the panel learn the key again.
ALTER TABLE nodes ADD COLUMN ssh_host_key TEXT;
