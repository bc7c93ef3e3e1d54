-- A unix socket never uses TLS (#17): nodes saved with the old default (使用 TLS ticked)
-- stop showing a TLS tag. Connections already ignored the flag for sockets.
UPDATE nodes SET use_tls = false WHERE docker_endpoint LIKE 'unix://%';
