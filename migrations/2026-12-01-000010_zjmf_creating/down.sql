ALTER TABLE lxd_containers DROP COLUMN creating;
