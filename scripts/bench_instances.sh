#!/usr/bin/env bash
# Benchmarks of the instances module (issue 4), against a release build, a seeded
# database and the local Docker engine:
#
#   scripts/bench_instances.sh
#
#   A. node matching: the wizard's node-choice partial (GET /instances/new/nodes?spec_id=N,
#      HTMX) with 1,000 nodes and 50,000 instances; target p99 < 20 ms;
#   B. the admin instance list (GET /instances?page=N, HTMX) with 50,000 instances, page 1
#      and the last page; target p99 < 30 ms at 200 req/s;
#   C. submit-to-running of a small container (POST /instances, then the row partial
#      polled until data-phase="ready" data-status="running") against
#      `docker create && docker start` of the same image with the same --cpus/--memory and
#      a named volume at /data, alternately in the same run; target overhead <= 10 %.
#
# What it does:
#   1. (re)creates the database `suanli_bench_instances` on $SUANLI_BENCH_PG (default
#      postgres://postgres@127.0.0.1:55432, the test cluster; started if down);
#   2. builds the release binary (unless BENCH_SKIP_BUILD=1), makes sure dockerd runs and
#      the image suanli-test/busybox:1 exists (scripts/lib.sh);
#   3. starts the server on 127.0.0.1:18182 with a temporary data dir, bcrypt cost 12 and
#      the Docker status worker OFF (see BENCH_STATUS_WORKER below); logs in as admin
#      (forced password change included);
#   4. seeds scripts/bench_instances_seed.sql (1,000 nodes on the local engine, specs,
#      images, 10 companies / 100 users sharing the admin's new password, 50,000
#      instances), vacuums until the visibility map is complete;
#   5. logs in as a customer_member; checks every URL answers the expected partial;
#   6. wrk runs (A and B), then the submit benchmark (C, a Python harness on loopback);
#   7. prints the EXPLAIN (ANALYZE, BUFFERS) plans of the node-matching SQL and of the list
#      queries (custom and generic plans), the server's RSS, and a summary with verdicts;
#   8. deletes the benchmark's instances through POST /instances/{id}/delete and the
#      docker-CLI containers and volumes with `docker rm -f` / `docker volume rm`, stops the
#      server, drops the database.
#
# Knobs (environment): SUANLI_BENCH_PG, SUANLI_BENCH_INSTANCES_LISTEN (127.0.0.1:18182),
# BENCH_DURATION (10s per wrk run), BENCH_SUBMIT_N (10 submissions each way, plus one
# warm-up each), BENCH_POLL_MS (5: row-partial poll interval), BENCH_STATUS_WORKER
# (false: 1,000 seeded nodes all point at the one local engine, so the worker would open
# 1,000 event streams to it, list its containers ~100 times a second and mark the 50,000
# fake containers missing -- nothing like 1,000 real nodes; set true to measure with it),
# BENCH_WAIT_IDLE (120: seconds to wait for >= 85 % idle CPUs before the runs; other
# builds and tests on the machine skew every figure), BENCH_KEEP_DB=1 (keep the database for EXPLAIN sessions; the benchmark's own instances
# are deleted anyway), BENCH_SKIP_BUILD=1 (use the existing binary), BENCH_SKIP_WRK=1
# (only the submit benchmark), BENCH_SKIP_SUBMIT=1 (only the wrk runs).
# Needs: wrk, curl, psql/pg_isready, python3, docker, cargo (unless BENCH_SKIP_BUILD=1).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # log, die, ensure_postgres, ensure_cargo, ensure_docker
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
cd "$SUANLI_ROOT"

# ---------------------------------------------------------------- settings
PG_BASE=${SUANLI_BENCH_PG:-postgres://postgres@127.0.0.1:55432}
PG_BASE=${PG_BASE%/}
BENCH_DB=suanli_bench_instances
LISTEN=${SUANLI_BENCH_INSTANCES_LISTEN:-127.0.0.1:18182}
BASE_URL="http://$LISTEN"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$TARGET_DIR/release/suanli"
NEW_PASSWORD='Bench!pass123'
DURATION=${BENCH_DURATION:-10s}
SUBMIT_N=${BENCH_SUBMIT_N:-10}
POLL_MS=${BENCH_POLL_MS:-5}
STATUS_WORKER=${BENCH_STATUS_WORKER:-false}
WAIT_IDLE=${BENCH_WAIT_IDLE:-120}
TEST_IMAGE=suanli-test/busybox:1
MATCH_P99_MS=20
LIST_P99_MS=30
LIST_RPS=200
SUBMIT_OVERHEAD_PCT=10
PACED_CONNS=20
RUN_ID="b$$" # names of this run's containers: bsub-<run>-NN (panel), bcli-<run>-NN (CLI)

bench_require wrk curl psql pg_isready awk python3 docker

bench_dirs inst

# Whatever this run left on the engine (a failed or interrupted submit benchmark).
docker_leftovers() {
    local ids vols
    ids=$(docker ps -aq --filter "name=bsub-$RUN_ID-" --filter "name=bcli-$RUN_ID-" 2>/dev/null || true)
    if [[ -n $ids ]]; then
        log "removing leftover benchmark containers: $(wc -w <<<"$ids")"
        # shellcheck disable=SC2086
        docker rm -f $ids >/dev/null 2>&1 || true
    fi
    vols=$(docker volume ls -q --filter "name=bsub-$RUN_ID-" 2>/dev/null || true)
    vols+=" $(docker volume ls -q --filter "name=bcli-$RUN_ID-" 2>/dev/null || true)"
    if [[ -n ${vols// /} ]]; then
        log "removing leftover benchmark volumes: $(wc -w <<<"$vols")"
        # shellcheck disable=SC2086
        docker volume rm -f $vols >/dev/null 2>&1 || true
    fi
}
cleanup() {
    local rc=$?
    trap - EXIT
    docker_leftovers
    bench_cleanup "$rc"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1-2. database, build, docker
bench_create_db
bench_build
ensure_docker
ensure_test_image "$TEST_IMAGE"

# ---------------------------------------------------------------- 3. server, admin
bench_start_server SUANLI__DOCKER__STATUS_WORKER="$STATUS_WORKER"
bench_login_admin "$NEW_PASSWORD"
ADMIN_SESSION=$SESSION

# ---------------------------------------------------------------- 4. seed
log "seeding 1,000 nodes, 100 users, 50,000 instances"
seed_start=$SECONDS
PW_HASH=$(psql_q -d "$DB_URL" -tA -c "SELECT password_hash FROM users WHERE username = 'admin'")
psql_q -d "$DB_URL" -v pw_hash="$PW_HASH" -v bench_image="$TEST_IMAGE" \
    -f "$SUANLI_ROOT/scripts/bench_instances_seed.sql" >/dev/null
# VACUUM sets a page all-visible only when no transaction anywhere may still not see its
# rows; a concurrent session (another test on the cluster) can hold that back. Index-only
# scans (the capacity index) need the visibility map, so vacuum until it is complete.
for ((i = 0; i < 10; i++)); do
    read -r pages visible < <(psql_q -d "$DB_URL" -tA -F ' ' -c "SELECT relpages, relallvisible FROM pg_class WHERE relname = 'instances'")
    ((visible >= pages)) && break
    log "instances: $visible of $pages pages all-visible; vacuuming again"
    sleep 1
    psql_q -d "$DB_URL" -c "VACUUM (ANALYZE) instances" >/dev/null
done
read -r n_nodes n_inst n_users n_specs VISIBLE < <(psql_q -d "$DB_URL" -tA -F ' ' -c "
    SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM instances), (SELECT count(*) FROM users),
           (SELECT count(*) FROM specs),
           (SELECT relallvisible || '/' || relpages FROM pg_class WHERE relname = 'instances')")
log "seeded in $((SECONDS - seed_start)) s: nodes=$n_nodes instances=$n_inst users=$n_users specs=$n_specs (instances pages all-visible: $VISIBLE)"

spec_id() { psql_q -d "$DB_URL" -tA -c "SELECT id FROM specs WHERE name = '$1'"; }
SPEC_X1=$(spec_id 'A100 x1')
SPEC_X8=$(spec_id 'A100 x8')
SPEC_SMALL=$(spec_id 'bench-small')
IMAGE_ID=$(psql_q -d "$DB_URL" -tA -c "SELECT id FROM images WHERE name = 'busybox-bench'")
LAST_PAGE=$(((n_inst + 19) / 20))
read -r SMALL_CPUS SMALL_MEM < <(psql_q -d "$DB_URL" -tA -F ' ' -c "SELECT cpu_cores, memory_gb FROM specs WHERE id = $SPEC_SMALL")

# ---------------------------------------------------------------- 5. member, sanity
MEMBER=bench-member-01-1
MEMBER_SESSION=$(bench_login "$MEMBER" "$NEW_PASSWORD")
[[ -n $MEMBER_SESSION ]] || die "no session cookie for $MEMBER"
log "logged in as $MEMBER"

ADMIN_HDRS=(-H 'HX-Request: true' -H "Cookie: suanli_session=$ADMIN_SESSION")
MEMBER_HDRS=(-H 'HX-Request: true' -H "Cookie: suanli_session=$MEMBER_SESSION")
URL_X1="$BASE_URL/instances/new/nodes?spec_id=$SPEC_X1"
URL_X8="$BASE_URL/instances/new/nodes?spec_id=$SPEC_X8"
URL_SMALL="$BASE_URL/instances/new/nodes?spec_id=$SPEC_SMALL"
URL_LIST1="$BASE_URL/instances?page=1"
URL_LISTDEEP="$BASE_URL/instances?page=$LAST_PAGE"

# check_partial LABEL PATTERN MIN MAX URL CURL_ARGS... - 200, the count of PATTERN in
# MIN..MAX, no full page; leaves the body in $WORK/partial.html, the count in CHECK_N.
check_partial() {
    local label=$1 pat=$2 min=$3 max=$4 url=$5 res
    shift 5
    res=$(curl -sS "$@" -o "$WORK/partial.html" -w '%{http_code} %{size_download}' "$url")
    CHECK_N=$(grep -c -- "$pat" "$WORK/partial.html" || true)
    log "GET ${url#"$BASE_URL"} ($label): status/bytes $res, $CHECK_N matches of '$pat'"
    [[ $res == 200* ]] || die "GET $url ($label): expected 200, got $res"
    ! grep -q '<html' "$WORK/partial.html" || die "GET $url ($label) returned a full page, not the partial"
    ((CHECK_N >= min && CHECK_N <= max)) || die "GET $url ($label): $CHECK_N matches, expected $min..$max"
}
check_partial admin 'name="node_id"' 1 200 "$URL_X1" "${ADMIN_HDRS[@]}"
N_X1=$CHECK_N
check_partial admin 'name="node_id"' 1 200 "$URL_X8" "${ADMIN_HDRS[@]}"
N_X8=$CHECK_N
check_partial member 'name="node_id"' "$N_X1" "$N_X1" "$URL_X1" "${MEMBER_HDRS[@]}"
check_partial admin 'name="node_id"' 1 200 "$URL_SMALL" "${ADMIN_HDRS[@]}"
# the first offered node (bash's own match: a grep | head pipe dies of SIGPIPE under pipefail)
node_re='name="node_id" value="([0-9]+)"'
SUBMIT_NODE=
[[ $(<"$WORK/partial.html") =~ $node_re ]] && SUBMIT_NODE=${BASH_REMATCH[1]}
[[ -n $SUBMIT_NODE ]] || die "no node offered for the spec bench-small"
check_partial admin '<tr id="instance-' 20 20 "$URL_LIST1" "${ADMIN_HDRS[@]}"
# the pager: 第 1/2500 页 · 共 50000 条
grep -q "共 $n_inst 条" "$WORK/partial.html" ||
    die "the list partial does not show the total $n_inst"
check_partial admin '<tr id="instance-' 20 20 "$URL_LISTDEEP" "${ADMIN_HDRS[@]}"
grep -q 'id="instance-1"' "$WORK/partial.html" || die "the last page does not hold the oldest instance"
# What the SQL should find, computed independently from the instances themselves (not
# from node_usage, which triggers keep): the same rule as nodes_fitting.
expected_fit() {
    psql_q -d "$DB_URL" -tA -c "
        SELECT least(count(*), 200) FROM nodes n JOIN specs s ON s.id = $1
        LEFT JOIN LATERAL (SELECT coalesce(sum(gpu_count), 0) g, coalesce(sum(cpu_cores), 0) c,
                coalesce(sum(memory_gb), 0) m, coalesce(sum(system_disk_gb), 0) sd, coalesce(sum(data_disk_gb), 0) dd
            FROM instances i WHERE i.node_id = n.id AND instance_holds(i.phase, i.container_id)) u ON true
        WHERE n.listed AND lower(n.gpu_model) = lower(s.gpu_model) AND n.gpu_count - u.g >= s.gpu_count
          AND n.cpu_cores - u.c >= s.cpu_cores AND n.memory_gb - u.m >= s.memory_gb
          AND n.system_disk_gb - u.sd >= s.system_disk_gb AND n.data_disk_gb - u.dd >= s.data_disk_gb"
}
[[ $(expected_fit "$SPEC_X1") == "$N_X1" ]] || die "spec A100 x1: the partial offers $N_X1 nodes, the data says $(expected_fit "$SPEC_X1")"
[[ $(expected_fit "$SPEC_X8") == "$N_X8" ]] || die "spec A100 x8: the partial offers $N_X8 nodes, the data says $(expected_fit "$SPEC_X8")"
log "node matching offers $N_X1 nodes for 'A100 x1' (capped at 200) and $N_X8 for 'A100 x8'; submit node id $SUBMIT_NODE"

# ---------------------------------------------------------------- 6a. wrk
bench_wait_idle "$WAIT_IDLE" 85
IDLE_START=$(cpu_idle_pct)
if ((IDLE_START < 90)); then
    log "warning: only $IDLE_START% CPU idle before the runs: something else is busy, figures will be pessimistic"
fi
bench_write_lua "$LUA"
declare -A THINK=() # page -> think time of its paced run
if [[ -z ${BENCH_SKIP_WRK:-} ]]; then
    # A. node matching: no rate in the target, so the single-user latency (-c1) is judged;
    # -c4 shows the behaviour at saturation of this machine's CPUs.
    bench_run_wrk match_x1_c1 1 1 "$DURATION" "$URL_X1" "${ADMIN_HDRS[@]}"
    bench_run_wrk match_x8_c1 1 1 "$DURATION" "$URL_X8" "${ADMIN_HDRS[@]}"
    bench_run_wrk match_x1_member_c1 1 1 "$DURATION" "$URL_X1" "${MEMBER_HDRS[@]}"
    bench_run_wrk match_x1_c4 2 4 "$DURATION" "$URL_X1" "${ADMIN_HDRS[@]}"

    # B. admin list: single-user latency, saturation throughput, and ~200 req/s offered by
    # PACED_CONNS connections with exponential think time (roughly Poisson arrivals).
    for pg in p1 deep; do
        if [[ $pg == p1 ]]; then url=$URL_LIST1; else url=$URL_LISTDEEP; fi
        bench_run_wrk "list_${pg}_c1" 1 1 "$DURATION" "$url" "${ADMIN_HDRS[@]}"
        bench_run_wrk "list_${pg}_c4" 2 4 "$DURATION" "$url" "${ADMIN_HDRS[@]}"
        think=$(bench_think_ms "$PACED_CONNS" "$LIST_RPS" "$(figure "list_${pg}_c1" p50_ms)")
        BENCH_THINK_MS=$think bench_run_wrk "list_${pg}_paced" 2 "$PACED_CONNS" "$DURATION" "$url" "${ADMIN_HDRS[@]}"
        # Latency under load is longer than at -c1, so the offered rate falls short: once,
        # recompute the think time from the measured cycle (conns / rate - think) and rerun
        # (only when the server can sustain the rate at all).
        rps=$(figure "list_${pg}_paced" rps)
        if ! gt "$rps" "$((LIST_RPS * 95 / 100))" && gt "$(figure "list_${pg}_c4" rps)" "$LIST_RPS"; then
            think=$(awk -v c="$PACED_CONNS" -v r="$LIST_RPS" -v got="$rps" -v t="$think" \
                'BEGIN { l = c * 1000 / got - t; t = c * 1000 / r - l; printf "%.1f", (t < 1 ? 1 : t) }')
            echo "(offered rate ${rps} req/s < ${LIST_RPS}: again with think time ${think} ms)"
            BENCH_THINK_MS=$think bench_run_wrk "list_${pg}_paced" 2 "$PACED_CONNS" "$DURATION" "$url" "${ADMIN_HDRS[@]}"
        fi
        THINK[$pg]=$think
    done
fi

# ---------------------------------------------------------------- 6b. submit-to-running
# The submit harness (Python, stdlib only): times each side end to end on loopback.
#   panel: POST /instances (HTMX, 204) → GET /instances?page=1 finds the new row's id
#          (what the page does on the HX-Trigger list-changed) → GET /instances/{id}/row
#          every POLL_MS until data-phase="ready" data-status="running";
#   CLI:   docker create (same --cpus/--memory, named volume at /data, labels, host name,
#          restart policy) && docker start, as separate processes like `time a && b`.
# Alternating (ABBA), one unmeasured warm-up each. Afterwards: the server-side share
# (instances.created_at = placement commit → updated_at = mark_ready) from the DB, a
# check that both containers got the same limits, then deletion through the panel and
# `docker rm -f` / `docker volume rm`. Prints one SUBMITSTAT line.
cat >"$WORK/submit.py" <<'PY'
import http.client, os, re, statistics, subprocess, sys, time, urllib.parse

E = os.environ
url = urllib.parse.urlsplit(E["BASE_URL"])
session, csrf, run = E["SESSION"], E["CSRF"], E["RUN_ID"]
n, poll = int(E["N"]), float(E["POLL_MS"]) / 1000
image, cpus, mem_gb = E["IMAGE"], E["CPUS"], E["MEMORY_GB"]
conn = None


def request(method, path, body=None):
    global conn, session
    headers = {"Cookie": "suanli_session=" + session, "HX-Request": "true"}
    if method == "POST":
        headers["X-CSRF-Token"] = csrf
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    for attempt in (1, 2):  # a keep-alive connection the server closed: reconnect once
        try:
            if conn is None:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read().decode("utf-8", "replace")
            break
        except (http.client.HTTPException, OSError):
            conn = None
            if attempt == 2:
                raise
    for c in r.msg.get_all("Set-Cookie") or []:
        m = re.match(r"suanli_session=([^;]*)", c)
        if m and m.group(1):
            session = m.group(1)
    return r.status, data


def panel(name):
    body = urllib.parse.urlencode({
        "image_id": E["IMAGE_ID"], "spec_id": E["SPEC_ID"], "node_id": E["NODE_ID"],
        "node_spec_id": E["SPEC_ID"], "name": name, "remark": "bench " + run})
    t0 = time.perf_counter()
    st, data = request("POST", "/instances", body)
    if st != 204:
        raise SystemExit(f"POST /instances {name}: status {st}: {data[:400]}")
    st, data = request("GET", "/instances?page=1")
    m = re.search(r'<tr id="instance-(\d+)" data-id="\d+" data-phase="([a-z]*)" data-status="([a-z]*)">\s*'
                  r'<td class="name"><a href="/instances/\d+">' + re.escape(name) + "</a></td>", data)
    if st != 200 or not m:
        raise SystemExit(f"{name} not on page 1 of the list (status {st})")
    iid, phase, status = int(m.group(1)), m.group(2), m.group(3)
    polls = 0
    while not (phase == "ready" and status == "running"):
        if phase == "failed":
            raise SystemExit(f"{name} failed: {re.sub(r'<[^>]+>', ' ', data)[:400]}")
        if time.perf_counter() - t0 > 60:
            raise SystemExit(f"{name}: not running after 60 s (phase {phase}, status {status})")
        time.sleep(poll)
        st, data = request("GET", f"/instances/{iid}/row")
        polls += 1
        m = re.search(r'data-phase="([a-z]*)" data-status="([a-z]*)"', data)
        if st != 200 or not m:
            raise SystemExit(f"GET /instances/{iid}/row: status {st}")
        phase, status = m.group(1), m.group(2)
    return iid, (time.perf_counter() - t0) * 1000, polls


def docker(*args, out=False):
    r = subprocess.run(["docker", *args], check=True, text=True,
                       stdout=subprocess.PIPE if out else subprocess.DEVNULL)
    return r.stdout.strip() if out else None


def cli(name):
    t0 = time.perf_counter()
    docker("create", "--name", name, "--hostname", name, "--cpus", cpus, "--memory", mem_gb + "g",
           "--mount", f"type=volume,src={name}-data,dst=/data", "--label", "suanli.bench=" + run,
           "--restart", "unless-stopped", image)
    docker("start", name)
    ms = (time.perf_counter() - t0) * 1000
    state = docker("inspect", "-f", "{{.State.Status}}", name, out=True)
    if state != "running":
        raise SystemExit(f"{name}: {state} after docker start")
    return ms


panel_ids, cli_names, panel_ms, cli_ms, polls = {}, [], [], [], []
failed = None
try:
    cli_names.append(f"bcli-{run}-w")
    w = cli(cli_names[-1])
    iid, wp, _ = panel(f"bsub-{run}-w")
    panel_ids[iid] = f"bsub-{run}-w"
    print(f"  warm-up: cli {w:.1f} ms, panel {wp:.1f} ms (not counted)", flush=True)
    for i in range(1, n + 1):
        pair = {}
        order = ("cli", "panel") if i % 2 else ("panel", "cli")
        for side in order:
            time.sleep(0.3)
            if side == "cli":
                cli_names.append(f"bcli-{run}-{i:02d}")
                pair["cli"] = cli(cli_names[-1])
                cli_ms.append(pair["cli"])
            else:
                name = f"bsub-{run}-{i:02d}"
                iid, ms, p = panel(name)
                panel_ids[iid] = name
                pair["panel"] = ms
                panel_ms.append(ms)
                polls.append(p)
        print(f"  trial {i:2d} ({order[0]} first): cli {pair['cli']:7.1f} ms   panel {pair['panel']:7.1f} ms", flush=True)

    # Server-side share: placement commit (created_at) to mark_ready (updated_at).
    names = ",".join(f"'{v}'" for k, v in panel_ids.items() if not v.endswith("-w"))
    out = subprocess.run(["psql", "-X", "-q", "-tA", "-d", E["DB_URL"], "-c",
                          "SELECT extract(epoch FROM updated_at - created_at) * 1000 FROM instances "
                          f"WHERE name IN ({names})"], check=True, text=True, stdout=subprocess.PIPE).stdout
    server_ms = [float(x) for x in out.split()]
    # Same limits on both sides (fairness check).
    some_id = next(k for k, v in panel_ids.items() if not v.endswith("-w"))
    fmt = "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{range .Mounts}}{{.Type}}:{{.Destination}}{{end}}"
    pc = docker("inspect", "-f", fmt, f"suanli-{some_id}-{panel_ids[some_id]}", out=True)
    cc = docker("inspect", "-f", fmt, cli_names[-1], out=True)
    print(f"  limits (NanoCpus Memory mounts): panel container {pc}; CLI container {cc}", flush=True)
    if pc != cc:
        print("  warning: the two sides' containers differ", flush=True)
except SystemExit as e:
    failed = str(e)
    print("  error: " + failed, flush=True)
finally:
    deleted = 0
    for iid, name in panel_ids.items():
        st, data = request("POST", f"/instances/{iid}/delete")
        gone = request("GET", f"/instances/{iid}/row")[0] == 404
        if st == 204 and gone:
            deleted += 1
        else:
            print(f"  delete {name} (id {iid}): status {st}, row gone: {gone}", flush=True)
    cli_removed = 0
    if cli_names:
        subprocess.run(["docker", "rm", "-f", *cli_names], stdout=subprocess.DEVNULL)
        subprocess.run(["docker", "volume", "rm", *[c + "-data" for c in cli_names]], stdout=subprocess.DEVNULL)
        left = docker("ps", "-aq", "--filter", f"name=bcli-{run}-", out=True)
        cli_removed = len(cli_names) - len(left.split())
    left_panel = docker("ps", "-aq", "--filter", f"name=bsub-{run}-", out=True).split()
    left_vols = docker("volume", "ls", "-q", "--filter", f"name=bsub-{run}-", out=True).split()
    print(f"  clean-up: {deleted}/{len(panel_ids)} panel instances deleted (containers left: {len(left_panel)}, "
          f"volumes left: {len(left_vols)}); {cli_removed}/{len(cli_names)} CLI containers removed", flush=True)
if failed:
    sys.exit(1)

pm, cm = statistics.median(panel_ms), statistics.median(cli_ms)
print("SUBMITSTAT " + " ".join([
    f"panel_median_ms={pm:.1f}", f"panel_min_ms={min(panel_ms):.1f}", f"panel_max_ms={max(panel_ms):.1f}",
    f"cli_median_ms={cm:.1f}", f"cli_min_ms={min(cli_ms):.1f}", f"cli_max_ms={max(cli_ms):.1f}",
    f"overhead_pct={(pm - cm) / cm * 100:.1f}", f"server_median_ms={statistics.median(server_ms):.1f}",
    f"polls_median={statistics.median(polls):.0f}", f"deleted={deleted}", f"cli_removed={cli_removed}",
    f"panel_all_ms={','.join(f'{x:.0f}' for x in panel_ms)}", f"cli_all_ms={','.join(f'{x:.0f}' for x in cli_ms)}"]))
PY

SUBMIT_OUT="$WORK/submit.out"
if [[ -z ${BENCH_SKIP_SUBMIT:-} ]]; then
    curl -sS -H "Cookie: suanli_session=$ADMIN_SESSION" -o "$WORK/instances.html" "$BASE_URL/instances"
    csrf_re='"X-CSRF-Token": "([^"]*)"'
    CSRF=
    [[ $(<"$WORK/instances.html") =~ $csrf_re ]] && CSRF=${BASH_REMATCH[1]}
    [[ -n $CSRF ]] || die "no X-CSRF-Token in hx-headers of GET /instances"
    bench_wait_idle "$WAIT_IDLE" 85
    echo
    echo "=== submit-to-running: $SUBMIT_N panel submissions vs $SUBMIT_N 'docker create && docker start' (alternating, 1 warm-up each)"
    BASE_URL=$BASE_URL SESSION=$ADMIN_SESSION CSRF=$CSRF IMAGE_ID=$IMAGE_ID SPEC_ID=$SPEC_SMALL \
        NODE_ID=$SUBMIT_NODE RUN_ID=$RUN_ID N=$SUBMIT_N POLL_MS=$POLL_MS IMAGE=$TEST_IMAGE \
        CPUS=$SMALL_CPUS MEMORY_GB=$SMALL_MEM DB_URL=$DB_URL \
        python3 "$WORK/submit.py" | tee "$SUBMIT_OUT"
    grep -q '^SUBMITSTAT ' "$SUBMIT_OUT" || die "the submit benchmark printed no SUBMITSTAT line"
    STATS[submit]=$(sed -n 's/^SUBMITSTAT //p' "$SUBMIT_OUT")
fi

# ---------------------------------------------------------------- 7. RSS, SQL plans
read -r RSS_MB HWM_MB THREADS < <(bench_rss)

# The node-matching SQL of src/db/instances.rs nodes_fitting, for a spec's needs.
fitting_sql() { # SPEC_ID
    local model gpus cpu mem sys data
    IFS='|' read -r model gpus cpu mem sys data < <(psql_q -d "$DB_URL" -tA -c "
        SELECT gpu_model, gpu_count, cpu_cores, memory_gb, system_disk_gb, data_disk_gb FROM specs WHERE id = $1")
    cat <<SQL
SELECT n.id, n.name, n.region, n.gpu_model,
       n.gpu_count - u.gpu_count, n.cpu_cores - u.cpu_cores, n.memory_gb - u.memory_gb,
       n.system_disk_gb - u.system_disk_gb, n.data_disk_gb - u.data_disk_gb
FROM nodes n INNER JOIN node_usage u ON u.node_id = n.id
WHERE n.listed AND lower(btrim(n.gpu_model)) = lower(btrim('$model'))
  AND n.gpu_count - u.gpu_count >= $gpus AND n.cpu_cores - u.cpu_cores >= $cpu
  AND n.memory_gb - u.memory_gb >= $mem AND n.system_disk_gb - u.system_disk_gb >= $sys
  AND n.data_disk_gb - u.data_disk_gb >= $data
ORDER BY n.name LIMIT 200
SQL
}
# The list of src/db/instances.rs list (Scope::All): a count and one page of the joined view.
LIST_COLS='instances.id, instances.name, instances.remark, instances.container_id, instances.status,
    instances.phase, instances.message, instances.disk_quota, instances.volume_name,
    instances.gpu_indices, instances.gpu_count, instances.cpu_cores, instances.memory_gb,
    instances.system_disk_gb, instances.data_disk_gb, instances.created_at, instances.node_id,
    images.name, images.address, specs.name, nodes.name, nodes.docker_state, users.username'
LIST_FROM='instances INNER JOIN images ON instances.image_id = images.id
    INNER JOIN specs ON instances.spec_id = specs.id INNER JOIN nodes ON instances.node_id = nodes.id
    INNER JOIN users ON instances.owner_id = users.id'
list_sql() { echo "SELECT $LIST_COLS FROM $LIST_FROM ORDER BY instances.id DESC LIMIT 20 OFFSET $1"; }
DEEP_OFFSET=$(((LAST_PAGE - 1) * 20))

declare -A SQL_MS=()
echo
echo "=== SQL plans (EXPLAIN (ANALYZE, BUFFERS), 3rd run; times include EXPLAIN's own overhead)"
echo "    nodes_fitting reads node_usage (one row per node, kept by triggers); the list page is"
echo "    LIMIT \$1 OFFSET \$2, so after 5 runs Postgres may switch to the generic plan: both shown."
bench_explain "nodes_fitting, spec 'A100 x1'" "$(fitting_sql "$SPEC_X1")"
SQL_MS[fit_x1]=$EXPLAIN_MS
bench_explain "nodes_fitting, spec 'A100 x8'" "$(fitting_sql "$SPEC_X8")"
SQL_MS[fit_x8]=$EXPLAIN_MS
bench_explain "list count (admin)" "SELECT COUNT(*) FROM instances"
SQL_MS[count]=$EXPLAIN_MS
bench_explain "list page 1 (custom plan)" "$(list_sql 0)"
SQL_MS[page1]=$EXPLAIN_MS
bench_explain "list page $LAST_PAGE (custom plan)" "$(list_sql "$DEEP_OFFSET")"
SQL_MS[deep]=$EXPLAIN_MS
PREP="PREPARE list_page(bigint, bigint) AS SELECT $LIST_COLS FROM $LIST_FROM ORDER BY instances.id DESC LIMIT \$1 OFFSET \$2"
bench_explain "list page 1 (generic plan)" "EXECUTE list_page(20, 0)" "SET plan_cache_mode = force_generic_plan" "$PREP"
SQL_MS[page1_generic]=$EXPLAIN_MS
bench_explain "list page $LAST_PAGE (generic plan)" "EXECUTE list_page(20, $DEEP_OFFSET)" "SET plan_cache_mode = force_generic_plan" "$PREP"
SQL_MS[deep_generic]=$EXPLAIN_MS

log "stopping the server"
bench_stop_server
WARNINGS=$(grep -cE '\b(WARN|ERROR)\b' "$SERVER_LOG" || true)

# ---------------------------------------------------------------- summary
verdict_c1() { # RUN... : PASS when every run's p99 is under MATCH_P99_MS
    local r bad=
    for r in "$@"; do gt "$MATCH_P99_MS" "$(figure "$r" p99_ms)" || bad+=" $r"; done
    if [[ -z $bad ]]; then echo PASS; else echo "FAIL (p99 >= ${MATCH_P99_MS} ms in:$bad)"; fi
}
verdict_paced() { # PAGE
    local rps p99
    rps=$(figure "list_$1_paced" rps)
    p99=$(figure "list_$1_paced" p99_ms)
    if ! gt "$(figure "list_$1_c4" rps)" "$LIST_RPS"; then
        echo "FAIL (saturation throughput $(figure "list_$1_c4" rps) req/s <= ${LIST_RPS} req/s)"
    elif ! gt "$rps" "$((LIST_RPS * 95 / 100))"; then
        echo "NOT MEASURED at the rate (the think-time run reached only $rps req/s; p99 $p99 ms)"
    elif gt "$LIST_P99_MS" "$p99"; then
        echo "PASS (p99 $p99 ms at $rps req/s)"
    else
        echo "FAIL (p99 $p99 ms at $rps req/s)"
    fi
}

echo
echo "================================================================ suanli instances bench summary"
echo "  CPU idle before the runs: $IDLE_START% (other processes on these CPUs skew every figure)"
echo "  binary $BIN, 127.0.0.1 loopback, $(nproc) CPUs, status worker $STATUS_WORKER;"
echo "  $n_nodes nodes, $n_inst instances (all live), $n_users users; 'A100 x1' fits $N_X1 nodes (capped at 200), 'A100 x8' $N_X8"
if [[ -z ${BENCH_SKIP_WRK:-} ]]; then
    echo "  A. node-choice partial GET /instances/new/nodes?spec_id=N (HX)"
    bench_line match_x1_c1 "A100 x1 ($N_X1 rows) admin -c1"
    bench_line match_x8_c1 "A100 x8 ($N_X8 rows) admin -c1"
    bench_line match_x1_member_c1 "A100 x1 ($N_X1 rows) member -c1"
    bench_line match_x1_c4 "A100 x1 ($N_X1 rows) admin -t2 -c4"
    echo "     target p99 < ${MATCH_P99_MS} ms (single user, -c1 runs): $(verdict_c1 match_x1_c1 match_x8_c1 match_x1_member_c1)"
    echo "     at saturation (-c4, $(figure match_x1_c4 rps) req/s): $(verdict_c1 match_x1_c4)"
    echo "  B. admin list GET /instances?page=N (HX), $n_inst instances"
    bench_line list_p1_c1 "page 1 -c1"
    bench_line list_p1_c4 "page 1 -t2 -c4 (saturation)"
    bench_line list_p1_paced "page 1 ~${LIST_RPS}/s (-c${PACED_CONNS}, think ${THINK[p1]:-} ms)"
    bench_line list_deep_c1 "page $LAST_PAGE -c1"
    bench_line list_deep_c4 "page $LAST_PAGE -t2 -c4 (saturation)"
    bench_line list_deep_paced "page $LAST_PAGE ~${LIST_RPS}/s (-c${PACED_CONNS}, think ${THINK[deep]:-} ms)"
    echo "     target p99 < ${LIST_P99_MS} ms at ${LIST_RPS} req/s: page 1 $(verdict_paced p1); page $LAST_PAGE $(verdict_paced deep)"
else
    echo "  A. node matching, B. admin list: skipped (BENCH_SKIP_WRK)"
fi
echo "  C. submit-to-running (spec bench-small: $SMALL_CPUS CPU, $SMALL_MEM GB, data volume; image $TEST_IMAGE)"
if [[ -n ${STATS[submit]:-} ]]; then
    echo "     panel (POST → row shows ready/running, poll every ${POLL_MS} ms): median $(figure submit panel_median_ms) ms (min $(figure submit panel_min_ms), max $(figure submit panel_max_ms))"
    echo "       of which server-side (placement commit → mark_ready): median $(figure submit server_median_ms) ms"
    echo "     docker create && docker start (CLI): median $(figure submit cli_median_ms) ms (min $(figure submit cli_min_ms), max $(figure submit cli_max_ms))"
    echo "     each trial (ms): panel $(figure submit panel_all_ms); CLI $(figure submit cli_all_ms)"
    overhead=$(figure submit overhead_pct)
    if gt "$overhead" "$SUBMIT_OVERHEAD_PCT"; then v=FAIL; else v=PASS; fi
    echo "     overhead of the medians: ${overhead} % — target <= ${SUBMIT_OVERHEAD_PCT} %: $v"
    echo "     clean-up: $(figure submit deleted) panel instances deleted via POST /instances/{id}/delete, $(figure submit cli_removed) CLI containers + volumes removed"
else
    echo "     skipped (BENCH_SKIP_SUBMIT)"
fi
echo "  SQL (server-side execution under EXPLAIN ANALYZE, ms): nodes_fitting x1 ${SQL_MS[fit_x1]}, x8 ${SQL_MS[fit_x8]};"
echo "     list count ${SQL_MS[count]}, page 1 ${SQL_MS[page1]} (generic ${SQL_MS[page1_generic]}), page $LAST_PAGE ${SQL_MS[deep]} (generic ${SQL_MS[deep_generic]})"
echo "  server RSS after the runs: ${RSS_MB} MB (peak VmHWM ${HWM_MB} MB, ${THREADS} threads)"
echo "  server log lines at WARN/ERROR: ${WARNINGS}"
if ((WARNINGS > 0)); then
    grep -E '\b(WARN|ERROR)\b' "$SERVER_LOG" | sed 's/instance=[0-9]*/instance=N/' | sort | uniq -c | sort -rn | head -n 10 | sed 's/^/    /'
fi
echo "================================================================"
