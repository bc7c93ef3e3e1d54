-- A container's row is written before LXD is asked to make it and marked created at the
-- end: a server that stops halfway through a create finds the row at its next start and
-- removes what was made (container, rules, row), so the same hostname can be created
-- again.
ALTER TABLE lxd_containers ADD COLUMN creating BOOLEAN NOT NULL DEFAULT FALSE;
