-- The ZJMF (魔方财务) lxdserver plugin's backend: LXD containers it created (their product
-- figures; LXD holds the live state) and their NAT rules (the source of truth: iptables
-- rules are re-applied from here at start-up).
CREATE TABLE lxd_containers (
    hostname      TEXT PRIMARY KEY,
    cpu           INT NOT NULL CHECK (cpu > 0),
    disk_mb       BIGINT NOT NULL CHECK (disk_mb > 0),
    ram_mb        BIGINT NOT NULL CHECK (ram_mb > 0),
    -- Mbit/s; 0 = unlimited
    up_mbit       INT NOT NULL DEFAULT 0 CHECK (up_mbit >= 0),
    down_mbit     INT NOT NULL DEFAULT 0 CHECK (down_mbit >= 0),
    -- NAT rules allowed besides the automatic SSH rule; 0 = none besides SSH
    ports_limit   INT NOT NULL DEFAULT 0 CHECK (ports_limit >= 0),
    -- flow limit in GB; 0 = unlimited
    bandwidth_gb  BIGINT NOT NULL DEFAULT 0 CHECK (bandwidth_gb >= 0),
    image         TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER lxd_containers_updated_at BEFORE UPDATE ON lxd_containers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Port forwards <nat listen ip>:ext_port -> <container ip>:int_port. Containers not created
-- by Suanli (migrated from the Flask backend) have rules too: no foreign key.
CREATE TABLE nat_rules (
    id          BIGSERIAL PRIMARY KEY,
    hostname    TEXT NOT NULL,
    proto       TEXT NOT NULL CHECK (proto IN ('tcp', 'udp')),
    ext_port    INT NOT NULL CHECK (ext_port BETWEEN 1 AND 65535),
    int_port    INT NOT NULL CHECK (int_port BETWEEN 1 AND 65535),
    -- the rule create/reinstall adds for port 22
    is_ssh      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (proto, ext_port)
);
CREATE INDEX nat_rules_hostname_idx ON nat_rules (hostname);

-- /api/ routes: the pseudo role 'zjmf' means "holds an apikey token"; the gate lets these
-- through without a session or CSRF token and the /api/ scope checks the key.
INSERT INTO api_permissions (method, path_pattern, description, allowed_roles) VALUES
    ('GET', '/api/check', 'ZJMF: API connection test', '{zjmf}'),
    ('GET', '/api/getinfo', 'ZJMF: container state and usage', '{zjmf}'),
    ('POST', '/api/create', 'ZJMF: create a container', '{zjmf}'),
    ('GET', '/api/delete', 'ZJMF: delete a container and its NAT rules', '{zjmf}'),
    ('GET', '/api/boot', 'ZJMF: start a container', '{zjmf}'),
    ('GET', '/api/stop', 'ZJMF: stop a container', '{zjmf}'),
    ('GET', '/api/reboot', 'ZJMF: restart a container', '{zjmf}'),
    ('POST', '/api/password', 'ZJMF: set the container user''s password', '{zjmf}'),
    ('GET', '/api/natlist', 'ZJMF: a container''s port forwards', '{zjmf}'),
    ('POST', '/api/addport', 'ZJMF: add a port forward', '{zjmf}'),
    ('POST', '/api/delport', 'ZJMF: remove a port forward', '{zjmf}'),
    ('GET', '/lxd', 'LXD 容器: list with usage, and the API keys', '{admin}'),
    ('GET', '/lxd/{name}', 'LXD 容器: one container and its port forwards', '{admin}'),
    ('POST', '/lxd/{name}/power/{action}', 'LXD 容器: start, stop or restart', '{admin}'),
    ('POST', '/lxd/{name}/delete', 'LXD 容器: delete with its port forwards', '{admin}'),
    ('POST', '/lxd/{name}/ports', 'LXD 容器: add a port forward', '{admin}'),
    ('POST', '/lxd/{name}/ports/delete', 'LXD 容器: remove a port forward', '{admin}');
