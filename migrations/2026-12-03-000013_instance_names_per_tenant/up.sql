-- Instance names are unique within a tenant (a company, or a member without one), not
-- across the panel: a name another company uses is neither taken from nor revealed to
-- anybody else. Containers and volumes carry the instance id, so engines never clash.
DROP INDEX instances_name_key;
CREATE UNIQUE INDEX instances_tenant_name_key
    ON instances ((COALESCE('c' || company_id::text, 'u' || owner_id::text)), name);
