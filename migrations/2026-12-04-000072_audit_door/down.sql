DROP INDEX audit_logs_door;
ALTER TABLE audit_logs DROP COLUMN door;
