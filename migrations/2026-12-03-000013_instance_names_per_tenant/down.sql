DROP INDEX instances_tenant_name_key;
CREATE UNIQUE INDEX instances_name_key ON instances (name);
