#!/usr/bin/env bash
# Load benchmark of the panel with wrk, against a release build and a seeded database.
#
#   scripts/bench.sh
#
# What it does:
#   1. (re)creates the database `suanli_bench` on the Postgres at $SUANLI_BENCH_PG
#      (default postgres://postgres@127.0.0.1:55432, the test cluster; started if down);
#   2. builds the release binary (`cargo build --release`, CARGO_TARGET_DIR respected);
#   3. starts it on 127.0.0.1:18181 with a temporary data dir and the production bcrypt
#      cost (12); the first start migrates and creates `admin` with a random password;
#   4. seeds 10,000 images, nodes and specs (scripts/bench_seed.sql);
#   5. logs in with curl (forced password change included) to get an admin session;
#   6. runs wrk on loopback: the node list HTMX partial (page 1 and a search), the same
#      at low concurrency for the "p99 < 20 ms at 200 req/s" target, and a real
#      bcrypt-12 login POST;
#   7. prints the server's RSS, the SQL plans of the list queries, then stops the server,
#      drops the database and prints a summary.
#
# Knobs (environment): SUANLI_BENCH_PG, SUANLI_BENCH_LISTEN (127.0.0.1:18181),
# BENCH_DURATION (15s), BENCH_LOW_DURATION (10s), BENCH_LOGIN_DURATION (10s),
# BENCH_GZIP=1 (send `Accept-Encoding: gzip` like a browser), BENCH_KEEP_DB=1 (keep the
# database afterwards for EXPLAIN sessions), BENCH_SKIP_BUILD=1 (use the existing binary).
# Needs: wrk, curl, psql/pg_isready, cargo (unless BENCH_SKIP_BUILD=1).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # log, die, ensure_postgres, ensure_cargo
cd "$SUANLI_ROOT"

# ---------------------------------------------------------------- settings
PG_BASE=${SUANLI_BENCH_PG:-postgres://postgres@127.0.0.1:55432}
PG_BASE=${PG_BASE%/}
BENCH_DB=suanli_bench
DB_URL="$PG_BASE/$BENCH_DB"
ADMIN_DB_URL="$PG_BASE/postgres"
LISTEN=${SUANLI_BENCH_LISTEN:-127.0.0.1:18181}
BASE_URL="http://$LISTEN"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$TARGET_DIR/release/suanli"
NEW_PASSWORD='Bench!pass123'
DURATION=${BENCH_DURATION:-15s}
LOW_DURATION=${BENCH_LOW_DURATION:-10s}
LOGIN_DURATION=${BENCH_LOGIN_DURATION:-10s}
TARGET_RPS=200
TARGET_P99_MS=20

for tool in wrk curl psql pg_isready awk; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

WORK=$(mktemp -d -t suanli-bench.XXXXXX) # scratch: cookie jars, wrk outputs, server log
DATA_DIR=$(mktemp -d -t suanli-bench-data.XXXXXX)
SERVER_LOG="$WORK/server.log"
SERVER_PID=
DB_CREATED=
declare -A STATS=() # run name -> "p50_ms=.. p99_ms=.. rps=.. ..." (from the Lua done())

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# Stop the server we started (by its pid), drop the database, remove the scratch dirs.
stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local i
        for ((i = 0; i < 100; i++)); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            log "server did not stop within 10 s: SIGKILL"
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
cleanup() {
    local rc=$?
    trap - EXIT
    if ((rc != 0)) && [[ -s $SERVER_LOG ]]; then
        log "failed (exit $rc); last lines of the server log:"
        tail -n 20 "$SERVER_LOG" | grep -v 'password `' >&2 || true
    fi
    stop_server
    if [[ -n $DB_CREATED && -z ${BENCH_KEEP_DB:-} ]]; then
        psql_q -d "$ADMIN_DB_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $BENCH_DB"
    fi
    rm -rf "$WORK" "$DATA_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# urlencode STRING - percent-encode for an application/x-www-form-urlencoded body.
urlencode() {
    local LC_ALL=C # byte-wise: multibyte characters become several %XX
    local s=$1 out='' c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [A-Za-z0-9._~-]) out+=$c ;;
            *) printf -v c '%%%02X' "'$c"; out+=$c ;;
        esac
    done
    printf '%s' "$out"
}

# csrf_from FILE - the csrf_token hidden field of an HTML page.
csrf_from() {
    { grep -o 'name="csrf_token" value="[^"]*"' "$1" || true; } | head -n 1 | sed 's/.*value="//; s/"$//'
}

# session_from JAR - the suanli_session cookie of a curl cookie jar.
session_from() {
    awk -F '\t' '$6 == "suanli_session" { v = $7 } END { print v }' "$1"
}

# figure RUN KEY - one figure of a wrk run, e.g. `figure list_page1 p99_ms`.
figure() {
    local line=" ${STATS[$1]:-}"
    sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$line"
}

# cpu_idle_pct - idle share of all CPUs over one second (other load skews the figures).
cpu_idle_pct() {
    local a b
    a=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; printf "%.0f", (d > 0 ? 100 * (y[1] - x[1]) / d : 0) }'
}

# cpu_ticks - "total busy steal server postgres" CPU ticks so far: all CPUs from /proc/stat,
# the server process, and the Postgres backends serving the bench database.
cpu_ticks() {
    local pg=0 pid t
    for pid in $(pgrep -f "^postgres: .* $BENCH_DB " || true); do
        t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
        pg=$((pg + t))
    done
    local srv
    srv=$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0)
    awk -v srv="$srv" -v pg="$pg" '/^cpu / {
        total = $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9
        print total, total - $5 - $6, $9, srv, pg }' /proc/stat
}

# cpu_share BEFORE AFTER - CPU use between two cpu_ticks snapshots, as wrk-style keys.
# busy and steal: % of all CPUs; server and Postgres: % of one CPU.
cpu_share() {
    awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN {
        split(a, x, " "); split(b, y, " "); d = y[1] - x[1]; if (d <= 0) d = 1
        printf "cpu_busy=%.0f%% cpu_steal=%.0f%% cpu_server=%.0f%% cpu_pg=%.0f%%",
            100 * (y[2] - x[2]) / d, 100 * (y[3] - x[3]) / d, 100 * n * (y[4] - x[4]) / d, 100 * n * (y[5] - x[5]) / d }'
}

# ---------------------------------------------------------------- 1. Postgres
if ! pg_isready -q -d "$ADMIN_DB_URL"; then
    if [[ $PG_BASE == postgres://postgres@127.0.0.1:55432 ]]; then
        ensure_postgres 55432 "$SUANLI_CACHE_DIR/test-pg" fast
    else
        die "no Postgres answers at $PG_BASE"
    fi
fi
log "creating database $BENCH_DB on $PG_BASE"
psql_q -d "$ADMIN_DB_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null
psql_q -d "$ADMIN_DB_URL" -c "CREATE DATABASE $BENCH_DB" >/dev/null
DB_CREATED=1

# ---------------------------------------------------------------- 2. build
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
    ensure_cargo
    log "building (cargo build --release; target dir $TARGET_DIR)"
    build_start=$SECONDS
    cargo build --release
    log "build done in $((SECONDS - build_start)) s"
fi
[[ -x $BIN ]] || die "no binary at $BIN"

# ---------------------------------------------------------------- 3. server
if curl -s -o /dev/null --max-time 2 "$BASE_URL/healthz"; then
    die "something already answers on $LISTEN: stop it or set SUANLI_BENCH_LISTEN"
fi
# Settings from the caller's environment must not leak into the benchmark.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^SUANLI(__|_CONFIG$)' || true)

log "starting $BIN on $LISTEN (data dir $DATA_DIR, bcrypt cost 12)"
SUANLI__DATABASE__URL=$DB_URL \
    SUANLI__SERVER__LISTEN=$LISTEN \
    SUANLI__SERVER__DATA_DIR=$DATA_DIR \
    SUANLI__SECURITY__BCRYPT_COST=12 \
    RUST_LOG=warn \
    "$BIN" serve >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

ready=
for ((i = 0; i < 600; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited during start-up"
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE_URL/readyz" || true) == 200 ]]; then
        ready=1
        break
    fi
    sleep 0.1
done
[[ -n $ready ]] || die "GET /readyz did not answer 200 within 60 s"
[[ -s $DATA_DIR/initial-admin-password ]] || die "no $DATA_DIR/initial-admin-password (database not fresh?)"
INITIAL_PASSWORD=$(head -n 1 "$DATA_DIR/initial-admin-password")
log "server ready (pid $SERVER_PID)"

# ---------------------------------------------------------------- 4. seed
log "seeding 10,000 images, nodes and specs"
seed_start=$SECONDS
psql_q -d "$DB_URL" -f "$SUANLI_ROOT/scripts/bench_seed.sql" >/dev/null
read -r n_images n_nodes n_specs n_gpu_listed < <(psql_q -d "$DB_URL" -tA -F ' ' -c "
    SELECT (SELECT count(*) FROM images), (SELECT count(*) FROM nodes), (SELECT count(*) FROM specs),
           (SELECT count(*) FROM nodes WHERE listed AND search ILIKE '%gpu%')")
log "seeded in $((SECONDS - seed_start)) s: images=$n_images nodes=$n_nodes specs=$n_specs (listed nodes matching 'gpu': $n_gpu_listed)"

# ---------------------------------------------------------------- 5. log in
JAR="$WORK/admin.jar"
curl -sS -c "$JAR" -b "$JAR" -o "$WORK/login.html" "$BASE_URL/login"
token=$(csrf_from "$WORK/login.html")
[[ -n $token ]] || die "no csrf_token on GET /login"
res=$(curl -sS -c "$JAR" -b "$JAR" -o "$WORK/login-post.html" -w '%{http_code} %{redirect_url}' \
    --data-urlencode username=admin --data-urlencode "password=$INITIAL_PASSWORD" \
    --data-urlencode "csrf_token=$token" "$BASE_URL/login")
[[ $res == "303 $BASE_URL/password" ]] || die "POST /login with the initial password: expected '303 → /password', got '$res'"

curl -sS -c "$JAR" -b "$JAR" -o "$WORK/password.html" "$BASE_URL/password"
token=$(csrf_from "$WORK/password.html")
[[ -n $token ]] || die "no csrf_token on GET /password"
res=$(curl -sS -c "$JAR" -b "$JAR" -o "$WORK/password-post.html" -w '%{http_code} %{redirect_url}' \
    --data-urlencode "current=$INITIAL_PASSWORD" --data-urlencode "new=$NEW_PASSWORD" \
    --data-urlencode "confirm=$NEW_PASSWORD" --data-urlencode "csrf_token=$token" "$BASE_URL/password")
[[ $res == 303* ]] || die "POST /password: expected 303, got '$res'"
SESSION=$(session_from "$JAR")
[[ -n $SESSION ]] || die "no suanli_session cookie after the password change"
log "logged in as admin (password changed; session cookie ${#SESSION} bytes)"

HDRS=(-H 'HX-Request: true' -H "Cookie: suanli_session=$SESSION")
if [[ -n ${BENCH_GZIP:-} ]]; then HDRS+=(-H 'Accept-Encoding: gzip'); fi
URL_PAGE1="$BASE_URL/nodes"
URL_SEARCH="$BASE_URL/nodes?q=gpu&listed=1&sort=name"

# Sanity: the partials answer 200 with 20 rows (a 303 to /login would mean a dead session,
# and wrk counts 3xx as success).
for url in "$URL_PAGE1" "$URL_SEARCH"; do
    res=$(curl -sS "${HDRS[@]}" --compressed -o "$WORK/partial.html" -w '%{http_code} %{size_download}' "$url")
    rows=$(grep -c '<tr data-id=' "$WORK/partial.html" || true)
    log "GET ${url#"$BASE_URL"} (HX): status/bytes $res, $rows rows"
    [[ $res == 200* && $rows == 20 ]] || die "unexpected list partial for $url"
done
if ! grep -q '<div id="list"' "$WORK/partial.html" || grep -q '<html' "$WORK/partial.html"; then
    die "GET /nodes with HX-Request did not return the partial"
fi
search_names=$(grep -o '<td class="name">[^<]*' "$WORK/partial.html" | sed 's/.*>//' | tr '\n' ' ')
[[ $search_names == *gpu-node-* ]] || die "the search returned no gpu-node rows: $search_names"

# Login bench set-up: one anonymous session (cookie + its CSRF token) from one GET /login.
# A successful login renews the session in its *response*; the request cookie stays a
# valid anonymous session (cookie store), so every wrk request can reuse the same pair.
ANON_JAR="$WORK/anon.jar"
curl -sS -c "$ANON_JAR" -o "$WORK/anon-login.html" "$BASE_URL/login"
anon_token=$(csrf_from "$WORK/anon-login.html")
ANON_SESSION=$(session_from "$ANON_JAR")
[[ -n $anon_token && -n $ANON_SESSION ]] || die "no anonymous session/csrf token from GET /login"
LOGIN_BODY="username=admin&password=$(urlencode "$NEW_PASSWORD")&csrf_token=$(urlencode "$anon_token")&next=%2F"
LOGIN_SINGLE_MS=() # sequential logins timed by curl: one bcrypt verify with an idle CPU
for attempt in 1 2 3; do # several times: the same anonymous cookie must work again after a success
    res=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url} %{time_total}' -H "Cookie: suanli_session=$ANON_SESSION" \
        -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$LOGIN_BODY" "$BASE_URL/login")
    [[ $res == "303 $BASE_URL/ "* ]] || die "login check $attempt: expected '303 → /', got '$res'"
    LOGIN_SINGLE_MS+=("$(awk -v t="${res##* }" 'BEGIN { printf "%.0f", t * 1000 }')")
done
log "login POST with the right password answers 303 → / (3 times with one anonymous cookie; ${LOGIN_SINGLE_MS[*]} ms)"

# ---------------------------------------------------------------- 6. wrk
IDLE_START=$(cpu_idle_pct)
if ((IDLE_START < 90)); then
    log "warning: only $IDLE_START% CPU idle before the runs: something else is busy, figures will be pessimistic"
fi
# One Lua script for every run: an optional POST body from $BENCH_BODY, per-status counts
# summed over the threads, and one machine-readable BENCHSTAT line from done().
LUA="$WORK/bench.lua"
cat >"$LUA" <<'LUA'
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

local threads = {}
statuses = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

-- Optional think time (BENCH_THINK_MS = mean, exponentially distributed) between a
-- response and the connection's next request: many connections with think time give
-- roughly Poisson arrivals at connections * 1000 / (think + latency) req/s.
local think = tonumber(os.getenv("BENCH_THINK_MS") or "")
if think and think > 0 then
  function init(args)
    math.randomseed(os.time() * 100 + (tid or 0))
  end
  function delay()
    return math.floor(-math.log(1 - math.random()) * think)
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local agg, codes, parts = {}, {}, {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do agg[code] = (agg[code] or 0) + n end
  end
  for code in pairs(agg) do table.insert(codes, code) end
  table.sort(codes)
  local non2xx, non3xx = 0, 0
  for _, code in ipairs(codes) do
    table.insert(parts, code .. ":" .. agg[code])
    if code < 200 or code >= 300 then non2xx = non2xx + agg[code] end
    if code < 300 or code >= 400 then non3xx = non3xx + agg[code] end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCHSTAT p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f rps=%.1f requests=%d non2xx=%d non3xx=%d socket_errors=%d statuses=%s\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests / (summary.duration / 1e6), summary.requests,
    non2xx, non3xx, e.connect + e.read + e.write + e.timeout, table.concat(parts, ",")))
end
LUA

# run_wrk NAME THREADS CONNECTIONS DURATION URL [wrk args...]
run_wrk() {
    local name=$1 t=$2 c=$3 d=$4 url=$5
    shift 5
    echo
    echo "=== $name: wrk -t$t -c$c -d$d --latency ${url#"$BASE_URL"}   (CPU idle before: $(cpu_idle_pct)%)"
    local before after cpu
    before=$(cpu_ticks)
    wrk -t"$t" -c"$c" -d"$d" --latency -s "$LUA" "$@" "$url" | tee "$WORK/$name.out"
    after=$(cpu_ticks)
    cpu=$(cpu_share "$before" "$after")
    echo "CPU during the run: $cpu (busy/steal: % of all $(nproc) CPUs; server/pg: % of one CPU)"
    STATS[$name]="$(sed -n 's/^BENCHSTAT //p' "$WORK/$name.out") $cpu"
    [[ ${STATS[$name]} == p50_ms=* ]] || die "wrk run $name printed no BENCHSTAT line"
}

run_wrk list_page1 2 4 "$DURATION" "$URL_PAGE1" "${HDRS[@]}"
run_wrk list_search 2 4 "$DURATION" "$URL_SEARCH" "${HDRS[@]}"
# Low concurrency for the "p99 < 20 ms at 200 req/s" target (see the reasoning below).
run_wrk list_page1_c1 1 1 "$LOW_DURATION" "$URL_PAGE1" "${HDRS[@]}"
run_wrk list_page1_c2 2 2 "$LOW_DURATION" "$URL_PAGE1" "${HDRS[@]}"
run_wrk list_search_c1 1 1 "$LOW_DURATION" "$URL_SEARCH" "${HDRS[@]}"
# Approximately paced: PACED_CONNS connections with exponential think time so that they
# offer ~TARGET_RPS req/s in total (think = conns/rate - latency at -c1).
PACED_CONNS=20
THINK_MS=$(awk -v c="$PACED_CONNS" -v r="$TARGET_RPS" -v l="$(figure list_page1_c1 p50_ms)" \
    'BEGIN { t = c * 1000 / r - l; printf "%.1f", (t < 1 ? 1 : t) }')
BENCH_THINK_MS=$THINK_MS run_wrk list_page1_paced 2 "$PACED_CONNS" "$DURATION" "$URL_PAGE1" "${HDRS[@]}"
# bcrypt cost 12 is ~250 ms per hash by design: short and 2 connections.
BENCH_BODY=$LOGIN_BODY run_wrk login_post 2 2 "$LOGIN_DURATION" "$BASE_URL/login" \
    -H "Cookie: suanli_session=$ANON_SESSION" --timeout 10s

# ---------------------------------------------------------------- 7. RSS, SQL plans, stop
read -r RSS_MB HWM_MB < <(awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { printf "%.1f %.1f\n", r / 1024, h / 1024 }' "/proc/$SERVER_PID/status")
THREADS=$(awk '/^Threads:/ { print $2 }' "/proc/$SERVER_PID/status")

# The SQL the list handler runs (src/db/mod.rs catalog_queries + src/db/nodes.rs): a count
# and one page, for page 1 and for the search. Timed server-side with EXPLAIN ANALYZE.
NODE_COLS="id, name, region, cpu_cores, memory_gb, system_disk_gb, data_disk_gb, public_ip, private_ip,
    ssh_port, username, password_enc IS NOT NULL, gpu_model, gpu_count, docker_endpoint, use_tls,
    ca_cert, client_cert, client_key_enc IS NOT NULL, listed, remark, created_at"
SEARCH_WHERE="search ILIKE '%gpu%' AND listed = true"
declare -A SQL=(
    [page1_count]="SELECT COUNT(*) FROM nodes"
    [page1_rows]="SELECT $NODE_COLS FROM nodes ORDER BY name ASC, id ASC LIMIT 20 OFFSET 0"
    [search_count]="SELECT COUNT(*) FROM nodes WHERE $SEARCH_WHERE"
    [search_rows]="SELECT $NODE_COLS FROM nodes WHERE $SEARCH_WHERE ORDER BY name ASC, id ASC LIMIT 20 OFFSET 0"
)
declare -A SQL_MS=()
echo
echo "=== SQL plans of the node list queries (EXPLAIN ANALYZE, 3rd run)"
for q in page1_count page1_rows search_count search_rows; do
    for _ in 1 2; do psql_q -d "$DB_URL" -c "EXPLAIN ANALYZE ${SQL[$q]}" >/dev/null; done # warm
    plan=$(psql_q -d "$DB_URL" -tA -c "EXPLAIN (ANALYZE, BUFFERS) ${SQL[$q]}")
    SQL_MS[$q]=$(sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p' <<<"$plan")
    echo "--- $q: ${SQL[$q]//$'\n'/ }" | tr -s ' '
    echo "$plan"
done

log "stopping the server"
stop_server
WARNINGS=$(grep -cE '\b(WARN|ERROR)\b' "$SERVER_LOG" || true)

# ---------------------------------------------------------------- summary
# Pace argument: wrk is closed-loop (each connection sends its next request when the last
# one answered) and cannot hold a fixed rate. A 200 req/s paced load with mean latency L
# keeps 200*L requests in flight on average (Little's law); a closed-loop run with N
# connections keeps exactly N in flight. So when the -c4 run sustains more than 200 req/s
# (and 200*L < 4), its p99 is an upper bound for the p99 at 200 req/s (queueing can only be
# lower); the -c1 run is the no-queueing reference. The think-time run approximates the paced
# load itself (Poisson-like arrivals from 20 independent connections) and is the tie-breaker
# when the bound is too loose to prove the target.
sat_rps=$(figure list_page1 rps)
sat_p99=$(figure list_page1 p99_ms)
c1_p50=$(figure list_page1_c1 p50_ms)
paced_rps=$(figure list_page1_paced rps)
paced_p99=$(figure list_page1_paced p99_ms)
inflight=$(awk -v l="$c1_p50" -v r="$TARGET_RPS" 'BEGIN { printf "%.2f", r * l / 1000 }')
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; } # gt A B: A > B (floats)
bound_ok=; paced_ok=
if gt "$sat_rps" "$TARGET_RPS" && gt "$TARGET_P99_MS" "$sat_p99"; then bound_ok=1; fi
if gt "$paced_rps" "$((TARGET_RPS * 95 / 100))" && gt "$TARGET_P99_MS" "$paced_p99"; then paced_ok=1; fi
if ! gt "$sat_rps" "$TARGET_RPS"; then
    VERDICT="FAIL (saturation throughput ${sat_rps} req/s <= ${TARGET_RPS} req/s: the server cannot sustain the target rate)"
elif [[ -n $bound_ok && -n $paced_ok ]]; then
    VERDICT="PASS (saturation bound and think-time run agree)"
elif [[ -n $bound_ok ]]; then
    VERDICT="FAIL at the think-time load (p99 ${paced_p99} ms at ${paced_rps} req/s) although the saturation bound says PASS: here latency at low load is not lower than at saturation, so the bound does not hold"
elif [[ -n $paced_ok ]]; then
    VERDICT="PASS, not proven by the bound (saturation p99 ${sat_p99} ms >= ${TARGET_P99_MS} ms) but the think-time run at ${paced_rps} req/s has p99 ${paced_p99} ms"
else
    VERDICT="FAIL (saturation p99 ${sat_p99} ms; think-time run at ${paced_rps} req/s has p99 ${paced_p99} ms)"
fi

line() { # NAME LABEL
    printf '  %-34s p50 %8s ms  p99 %8s ms  %8s req/s  (%s requests, non-2xx %s, non-3xx %s, socket errors %s; statuses %s)\n' \
        "$2" "$(figure "$1" p50_ms)" "$(figure "$1" p99_ms)" "$(figure "$1" rps)" "$(figure "$1" requests)" \
        "$(figure "$1" non2xx)" "$(figure "$1" non3xx)" "$(figure "$1" socket_errors)" "$(figure "$1" statuses)"
    printf '  %-34s CPU: busy %s of all, steal %s; server %s, Postgres %s of one CPU\n' "" \
        "$(figure "$1" cpu_busy)" "$(figure "$1" cpu_steal)" "$(figure "$1" cpu_server)" "$(figure "$1" cpu_pg)"
}

echo
echo "================================================================ suanli bench summary"
echo "  CPU idle before the runs: $IDLE_START% (other processes on these CPUs skew every figure)"
echo "  binary $BIN, 127.0.0.1 loopback, $(nproc) CPUs, bcrypt cost 12, $n_nodes nodes / $n_images images / $n_specs specs$([[ -n ${BENCH_GZIP:-} ]] && echo ', gzip')"
line list_page1 "GET /nodes (HX) page 1   -t2 -c4"
line list_search "GET /nodes?q=gpu&listed=1 -t2 -c4"
line list_page1_c1 "GET /nodes (HX) page 1   -t1 -c1"
line list_page1_c2 "GET /nodes (HX) page 1   -t2 -c2"
line list_search_c1 "GET /nodes?q=gpu&listed=1 -t1 -c1"
line list_page1_paced "GET /nodes page 1 ~${TARGET_RPS}/s -c${PACED_CONNS}"
line login_post "POST /login (right pw)   -t2 -c2"
echo "  login POST: $(figure login_post non3xx) non-3xx responses out of $(figure login_post requests) (each success must be 303 → /);"
echo "    single sequential logins (curl, before the runs): ${LOGIN_SINGLE_MS[*]} ms"
echo "  target p99 < ${TARGET_P99_MS} ms at ${TARGET_RPS} req/s (list partial, page 1): $VERDICT"
echo "    reasoning: wrk cannot pace, so the saturation run (-c4: ${sat_rps} req/s, p99 ${sat_p99} ms) stands in:"
echo "    when saturation throughput > ${TARGET_RPS} req/s, saturation latency upper-bounds the latency at ${TARGET_RPS} req/s"
echo "    (a paced load keeps ~${TARGET_RPS} x ${c1_p50} ms = ${inflight} requests in flight on average, fewer than the 4 of -c4;"
echo "    closed-loop wrk hides coordinated omission, so this is a bound on typical queueing, not a proof); -c1 p99 $(figure list_page1_c1 p99_ms) ms is the no-queueing reference (idle-CPU wake-ups can make it worse than saturation on a VM);"
echo "    think-time run (${PACED_CONNS} connections, exponential think time, mean ${THINK_MS} ms): ${paced_rps} req/s, p99 ${paced_p99} ms."
echo "  SQL (server-side execution, ms): page1 count ${SQL_MS[page1_count]}, page1 rows ${SQL_MS[page1_rows]}, search count ${SQL_MS[search_count]}, search rows ${SQL_MS[search_rows]}"
echo "  server RSS after the runs: ${RSS_MB} MB (peak VmHWM ${HWM_MB} MB, ${THREADS} threads)"
echo "  server log lines at WARN/ERROR: ${WARNINGS}"
if ((WARNINGS > 0)); then
    grep -E '\b(WARN|ERROR)\b' "$SERVER_LOG" | sort | uniq -c | sort -rn | head -n 10 | sed 's/^/    /'
fi
echo "================================================================"
