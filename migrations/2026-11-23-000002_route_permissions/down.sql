DELETE FROM api_permissions;
