-- Benchmark data for scripts/bench.sh: 10,000 rows in each catalog table (images, nodes,
-- specs), run after the server has applied the migrations. Deterministic (no random()):
-- every run sees the same rows, so figures compare across runs.
--   * names are unique ('image-00001', 'node-00001', 'spec-00001', ...);
--   * every 10th node is named 'gpu-node-NNNNN', so `?q=gpu` matches 1,000 nodes
--     (regions, IPs and GPU models never contain "gpu");
--   * listed alternates: rows whose number is a multiple of 3 are 下架 (listed = false);
--   * created_at is spread over the past (one row per minute) so date sorting is real.
\set ON_ERROR_STOP on

BEGIN;

INSERT INTO images (name, address, description, source, listed, remark, created_at, updated_at)
SELECT 'image-' || lpad(i::text, 5, '0'),
       'registry.example.com/ml/image-' || i || ':' || (i % 7) || '.0',
       'benchmark image ' || i,
       (ARRAY['official', 'community', 'custom'])[1 + i % 3],
       i % 3 <> 0,
       '',
       now() - i * interval '1 minute',
       now() - i * interval '1 minute'
FROM generate_series(1, 10000) AS s(i);

INSERT INTO nodes (name, region, cpu_cores, memory_gb, system_disk_gb, data_disk_gb,
                   public_ip, private_ip, ssh_port, username, gpu_model, gpu_count,
                   docker_endpoint, use_tls, listed, remark, created_at, updated_at)
SELECT CASE WHEN i % 10 = 0 THEN 'gpu-node-' ELSE 'node-' END || lpad(i::text, 5, '0'),
       (ARRAY['cn-east-1', 'cn-north-2', 'cn-south-3', 'cn-west-4'])[1 + i % 4],
       (ARRAY[16, 32, 64, 128])[1 + i % 4],
       (ARRAY[64, 128, 256, 512])[1 + i % 4],
       100,
       (ARRAY[500, 1000, 2000])[1 + i % 3],
       '203.0.' || (i / 250) || '.' || (i % 250 + 1),
       '10.' || (i / 65536) || '.' || ((i / 256) % 256) || '.' || (i % 256),
       22,
       'root',
       (ARRAY['A100', 'H100', 'RTX 4090', 'L40S'])[1 + i % 4],
       (ARRAY[1, 2, 4, 8])[1 + i % 4],
       'tcp://10.' || (i / 65536) || '.' || ((i / 256) % 256) || '.' || (i % 256) || ':2376',
       true,
       i % 3 <> 0,
       '',
       now() - i * interval '1 minute',
       now() - i * interval '1 minute'
FROM generate_series(1, 10000) AS s(i);

INSERT INTO specs (name, gpu_model, gpu_count, cpu_cores, memory_gb, system_disk_gb,
                   data_disk_gb, price_per_hour_cents, listed, remark, created_at, updated_at)
SELECT 'spec-' || lpad(i::text, 5, '0'),
       (ARRAY['A100', 'H100', 'RTX 4090', 'L40S'])[1 + i % 4],
       (ARRAY[1, 2, 4, 8])[1 + i % 4],
       (ARRAY[8, 16, 32, 64])[1 + i % 4],
       (ARRAY[32, 64, 128, 256])[1 + i % 4],
       100,
       (ARRAY[0, 500, 1000])[1 + i % 3],
       500 + (i % 50) * 100,
       i % 3 <> 0,
       '',
       now() - i * interval '1 minute',
       now() - i * interval '1 minute'
FROM generate_series(1, 10000) AS s(i);

COMMIT;

-- The steady state autovacuum would reach (visibility map, statistics), done now so that
-- autovacuum does not start in the middle of a measurement.
VACUUM (ANALYZE) images;
VACUUM (ANALYZE) nodes;
VACUUM (ANALYZE) specs;
