-- Benchmark data for scripts/bench_instances.sh: 1,000 listed nodes, a few images and
-- specs, 10 companies with 100 users, and 50,000 live instances spread over the nodes.
-- Run after the server has applied the migrations and the admin has changed the
-- password. psql variables:
--   :pw_hash   bcrypt hash given to every seeded user (the admin's, so that the script
--              knows the password and need not hash);
--   :bench_image  address of the image the submit benchmark starts (must exist on the
--              Docker engine of the nodes).
-- Deterministic (no random()): every run sees the same rows.
--
-- Nodes 'node-0001' … 'node-1000', all listed, all on the local engine
-- (unix:///var/run/docker.sock, no TLS). GPU model by number k: k % 10 in 0-2 A100,
-- 3-5 H100, 6-7 RTX 4090, 8 L40S (8 GPUs, 128 cores, 1024 GB, 2000 + 8000 GB disks),
-- 9 CPU (no GPU, 128 cores, 512 GB).
--
-- Instances per node, a realistic mix (not derived from the specs' usual sizes only):
--   * about 25 % "free" nodes ((37k mod 100) < 25) hold 0-2 one-GPU instances;
--   * the others are busy: 58-80 instances planned, of which g = 4-8 ((k / 10) mod 5,
--     independent of the model) hold one GPU each (spec '<model> x1': 1 GPU, 8 cores,
--     64 GB, 50 + 200 GB) and the rest are CPU-only slices (spec '<model> cpu': 0 GPU,
--     1 core, 4 GB, 20 + 0 GB). The highest slots are trimmed so that there are exactly
--     50,000 instances (at most 70 per node, then).
--   So a fifth of the busy nodes has no GPU left, '<model> x1' fits on ~80 % of a
--   model's nodes, '<model> x8' only on the free nodes without instances (~8 %), and
--   'bench-small' (model CPU) on every CPU node.
-- Every instance: phase ready, status running (3 % exited: stopped containers still
-- hold their resources), a fake 64-hex container id, GPU indices disjoint per node
-- (slot s holds GPU s-1), owners spread over the seeded users, created a minute apart.
\set ON_ERROR_STOP on

BEGIN;

INSERT INTO images (name, address, description, source, listed, remark)
VALUES ('busybox-bench', :'bench_image', 'tiny image for the submit benchmark', 'custom', true, ''),
       ('pytorch-2.3-cuda12', 'registry.example.com/ml/pytorch:2.3-cuda12', '', 'official', true, ''),
       ('tensorflow-2.16', 'registry.example.com/ml/tensorflow:2.16-gpu', '', 'official', true, ''),
       ('vllm-0.5', 'registry.example.com/ml/vllm:0.5', '', 'community', true, ''),
       ('jupyter-lab', 'registry.example.com/ml/jupyter:4', '', 'community', true, ''),
       ('cuda-11.8-legacy', 'registry.example.com/ml/cuda:11.8', '', 'official', false, '');

INSERT INTO specs (name, gpu_model, gpu_count, cpu_cores, memory_gb, system_disk_gb,
                   data_disk_gb, price_per_hour_cents, listed, remark)
SELECT m.model || ' ' || s.suffix, m.model, s.gpus, s.cores, s.mem, s.sys, s.data,
       m.price * greatest(s.gpus, 1) / (CASE WHEN s.gpus = 0 THEN 20 ELSE 1 END), true, ''
FROM (VALUES ('A100', 1200), ('H100', 2500), ('RTX 4090', 400), ('L40S', 800)) AS m(model, price)
CROSS JOIN (VALUES ('x1', 1, 8, 64, 50, 200), ('x2', 2, 16, 128, 50, 400),
                   ('x4', 4, 32, 256, 100, 800), ('x8', 8, 64, 512, 100, 1600),
                   ('cpu', 0, 1, 4, 20, 0)) AS s(suffix, gpus, cores, mem, sys, data);
INSERT INTO specs (name, gpu_model, gpu_count, cpu_cores, memory_gb, system_disk_gb,
                   data_disk_gb, price_per_hour_cents, listed, remark)
VALUES ('CPU 1C4G', 'CPU', 0, 1, 4, 20, 0, 20, true, ''),
       ('CPU 8C32G', 'CPU', 0, 8, 32, 50, 200, 150, true, ''),
       ('bench-small', 'CPU', 0, 1, 1, 10, 1, 10, true, 'the submit benchmark''s spec'),
       ('A100 x16 (retired)', 'A100', 16, 128, 1024, 100, 3200, 19200, false, '');

INSERT INTO nodes (name, region, cpu_cores, memory_gb, system_disk_gb, data_disk_gb,
                   public_ip, private_ip, ssh_port, username, gpu_model, gpu_count,
                   docker_endpoint, use_tls, listed, remark)
SELECT 'node-' || lpad(k::text, 4, '0'),
       (ARRAY['cn-east-1', 'cn-north-2', 'cn-south-3', 'cn-west-4'])[1 + k % 4],
       128,
       CASE WHEN k % 10 = 9 THEN 512 ELSE 1024 END,
       2000,
       8000,
       '203.0.' || (k / 250) || '.' || (k % 250 + 1),
       '10.1.' || (k / 256) || '.' || (k % 256),
       22,
       'root',
       (ARRAY['A100', 'A100', 'A100', 'H100', 'H100', 'H100', 'RTX 4090', 'RTX 4090', 'L40S', 'CPU'])[1 + k % 10],
       CASE WHEN k % 10 = 9 THEN 0 ELSE 8 END,
       'unix:///var/run/docker.sock',
       false,
       true,
       ''
FROM generate_series(1, 1000) AS s(k);

INSERT INTO companies (name)
SELECT 'bench-co-' || lpad(c::text, 2, '0') FROM generate_series(1, 10) AS s(c);

-- Per company one owner and nine members; all with the admin's password, no forced change.
INSERT INTO users (username, display_name, password_hash, role, company_id, must_change_password)
SELECT CASE WHEN u = 0 THEN 'bench-owner-' || lpad(c::text, 2, '0')
            ELSE 'bench-member-' || lpad(c::text, 2, '0') || '-' || u END,
       '',
       :'pw_hash',
       CASE WHEN u = 0 THEN 'customer_owner' ELSE 'customer_member' END,
       co.id,
       false
FROM generate_series(1, 10) AS s(c)
JOIN companies co ON co.name = 'bench-co-' || lpad(c::text, 2, '0')
CROSS JOIN generate_series(0, 9) AS t(u);

-- The placement plan: one row per (node, slot).
CREATE TEMP TABLE bench_slots ON COMMIT DROP AS
SELECT n.id AS node_id, n.gpu_model, n.gpu_count AS node_gpus, s.slot,
       CASE WHEN n.gpu_count = 0 THEN 0 WHEN f.free THEN c.cnt ELSE c.g END AS gpu_holders
FROM (SELECT nodes.*, substring(name FROM 6)::int AS k FROM nodes) AS n
CROSS JOIN LATERAL (SELECT (n.k * 37) % 100 < 25 AS free) AS f
CROSS JOIN LATERAL (SELECT 4 + (n.k / 10) % 5 AS g,
                           CASE WHEN f.free THEN n.k % 3 ELSE 58 + (n.k * 7) % 23 END AS cnt) AS c
CROSS JOIN LATERAL generate_series(1, c.cnt) AS s(slot);

CREATE TEMP TABLE bench_plan ON COMMIT DROP AS
SELECT p.*, row_number() OVER (ORDER BY p.slot, p.node_id) AS rn
FROM bench_slots p;
DELETE FROM bench_plan WHERE rn > 50000;

INSERT INTO instances (name, image_id, spec_id, node_id, owner_id, company_id, container_id,
                       status, remark, created_at, updated_at, gpu_count, cpu_cores,
                       memory_gb, system_disk_gb, data_disk_gb, gpu_indices, phase, message,
                       disk_quota, volume_name)
SELECT 'inst-' || lpad(p.rn::text, 6, '0'),
       img.ids[1 + p.rn % array_length(img.ids, 1)],
       sp.id,
       p.node_id,
       usr.ids[1 + p.rn % array_length(usr.ids, 1)],
       usr.cos[1 + p.rn % array_length(usr.ids, 1)],
       md5('c' || p.rn) || md5('d' || p.rn),
       CASE WHEN p.rn % 33 = 0 THEN 'exited' ELSE 'running' END,
       CASE WHEN p.rn % 7 = 0 THEN 'training run ' || p.rn ELSE '' END,
       now() - (50001 - p.rn) * interval '1 minute',
       now() - (50001 - p.rn) * interval '1 minute',
       sp.gpu_count, sp.cpu_cores, sp.memory_gb, sp.system_disk_gb, sp.data_disk_gb,
       CASE WHEN p.slot <= p.gpu_holders THEN ARRAY[p.slot - 1] ELSE '{}'::int[] END,
       'ready',
       '',
       false,
       CASE WHEN sp.data_disk_gb > 0 THEN 'suanli-' || p.rn || '-inst-' || lpad(p.rn::text, 6, '0') || '-data' ELSE '' END
FROM bench_plan p
JOIN specs sp ON sp.name = CASE WHEN p.node_gpus = 0 THEN 'CPU 1C4G'
                                WHEN p.slot <= p.gpu_holders THEN p.gpu_model || ' x1'
                                ELSE p.gpu_model || ' cpu' END
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM images WHERE listed) AS img
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids, array_agg(company_id ORDER BY id) AS cos
            FROM users WHERE username LIKE 'bench-%') AS usr
ORDER BY p.rn;

COMMIT;

-- The steady state autovacuum would reach (visibility map for index-only scans,
-- statistics), done now so that autovacuum does not start in the middle of a measurement.
VACUUM (ANALYZE) images;
VACUUM (ANALYZE) specs;
VACUUM (ANALYZE) nodes;
VACUUM (ANALYZE) companies;
VACUUM (ANALYZE) users;
VACUUM (ANALYZE) instances;
