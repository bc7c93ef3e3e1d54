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
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
cd "$SUANLI_ROOT"

# ---------------------------------------------------------------- settings
PG_BASE=${SUANLI_BENCH_PG:-postgres://postgres@127.0.0.1:55432}
PG_BASE=${PG_BASE%/}
BENCH_DB=suanli_bench
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
BENCH_LINE_WIDTH=34 # summary lines: label column, and the non-3xx count (the login POST)
BENCH_LINE_NON3XX=1

bench_require wrk curl psql pg_isready awk

bench_dirs main
bench_exit_trap

# ---------------------------------------------------------------- 1-3. Postgres, build, server
bench_create_db
bench_build
# the refusal timings below send many wrong passwords from one address to one account
bench_start_server RUST_LOG=warn SUANLI__SECURITY__LOGIN_FAILURES_PER_IP=1000000 SUANLI__SECURITY__LOCKOUT_THRESHOLD=1000000

# ---------------------------------------------------------------- 4. seed
log "seeding 10,000 images, nodes and specs"
seed_start=$SECONDS
psql_q -d "$DB_URL" -f "$SUANLI_ROOT/scripts/bench_seed.sql" >/dev/null
read -r n_images n_nodes n_specs n_gpu_listed < <(psql_q -d "$DB_URL" -tA -F ' ' -c "
    SELECT (SELECT count(*) FROM images), (SELECT count(*) FROM nodes), (SELECT count(*) FROM specs),
           (SELECT count(*) FROM nodes WHERE listed AND search ILIKE '%gpu%')")
log "seeded in $((SECONDS - seed_start)) s: images=$n_images nodes=$n_nodes specs=$n_specs (listed nodes matching 'gpu': $n_gpu_listed)"

# ---------------------------------------------------------------- 5. log in
bench_login_admin "$NEW_PASSWORD"

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

# Login refusals: unknown user, wrong password and locked account must cost the same (one
# bcrypt check each) and say the same. Rotating order, REFUSAL_ROUNDS of each, medians.
REFUSAL_ROUNDS=${BENCH_REFUSAL_ROUNDS:-15}
psql_q -d "$DB_URL" -c "
    INSERT INTO users (username, display_name, password_hash, role)
    SELECT u, u, password_hash, 'customer_member' FROM users, (VALUES ('bench-wrong'), ('bench-locked')) v(u)
    WHERE username = 'admin';
    UPDATE users SET locked_until = now() + interval '1 day' WHERE username = 'bench-locked'" >/dev/null
refusal_ms() { # user password → ms, after checking the 401 and the shared message
    local res
    res=$(curl -sS -o "$WORK/refusal.html" -w '%{http_code} %{time_total}' -H "Cookie: suanli_session=$ANON_SESSION" \
        -H 'Content-Type: application/x-www-form-urlencoded' \
        --data-binary "username=$1&password=$(urlencode "$2")&csrf_token=$(urlencode "$anon_token")" "$BASE_URL/login")
    [[ $res == 401* ]] && grep -q 'id="login-error"' "$WORK/refusal.html" || die "refusal of $1: got '$res'"
    awk -v t="${res##* }" 'BEGIN { printf "%.1f\n", t * 1000 }'
}
declare -A REFUSAL=([unknown]="" [wrong]="" [locked]="")
REFUSAL_CASES=(unknown wrong locked)
for ((round = 0; round < REFUSAL_ROUNDS; round++)); do
    for k in 0 1 2; do
        kind=${REFUSAL_CASES[$(((round + k) % 3))]}
        case $kind in
        unknown) ms=$(refusal_ms nobody-bench 'Wrong!pass1') ;;
        wrong) ms=$(refusal_ms bench-wrong 'Wrong!pass1') ;;
        locked) ms=$(refusal_ms bench-locked "$NEW_PASSWORD") ;;
        esac
        REFUSAL[$kind]+="$ms "
    done
done
median_of() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
REFUSAL_MEDIANS="unknown $(median_of "${REFUSAL[unknown]}") ms, wrong password $(median_of "${REFUSAL[wrong]}") ms, locked $(median_of "${REFUSAL[locked]}") ms"
log "login refusals (medians of $REFUSAL_ROUNDS): $REFUSAL_MEDIANS"

# ---------------------------------------------------------------- 6. wrk
IDLE_START=$(cpu_idle_pct)
if ((IDLE_START < 90)); then
    log "warning: only $IDLE_START% CPU idle before the runs: something else is busy, figures will be pessimistic"
fi
bench_write_lua "$LUA"

bench_run_wrk list_page1 2 4 "$DURATION" "$URL_PAGE1" "${HDRS[@]}"
bench_run_wrk list_search 2 4 "$DURATION" "$URL_SEARCH" "${HDRS[@]}"
# Low concurrency for the "p99 < 20 ms at 200 req/s" target (see the reasoning below).
bench_run_wrk list_page1_c1 1 1 "$LOW_DURATION" "$URL_PAGE1" "${HDRS[@]}"
bench_run_wrk list_page1_c2 2 2 "$LOW_DURATION" "$URL_PAGE1" "${HDRS[@]}"
bench_run_wrk list_search_c1 1 1 "$LOW_DURATION" "$URL_SEARCH" "${HDRS[@]}"
# Approximately paced: PACED_CONNS connections with exponential think time so that they
# offer ~TARGET_RPS req/s in total (think = conns/rate - latency at -c1).
PACED_CONNS=20
THINK_MS=$(bench_think_ms "$PACED_CONNS" "$TARGET_RPS" "$(figure list_page1_c1 p50_ms)")
BENCH_THINK_MS=$THINK_MS bench_run_wrk list_page1_paced 2 "$PACED_CONNS" "$DURATION" "$URL_PAGE1" "${HDRS[@]}"
# bcrypt cost 12 is ~250 ms per hash by design: short and 2 connections.
BENCH_BODY=$LOGIN_BODY bench_run_wrk login_post 2 2 "$LOGIN_DURATION" "$BASE_URL/login" \
    -H "Cookie: suanli_session=$ANON_SESSION" --timeout 10s

# ---------------------------------------------------------------- 7. RSS, SQL plans, stop
read -r RSS_MB HWM_MB THREADS < <(bench_rss)

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
    bench_explain "$q" "${SQL[$q]}"
    SQL_MS[$q]=$EXPLAIN_MS
done

log "stopping the server"
bench_stop_server
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


echo
echo "================================================================ suanli bench summary"
echo "  CPU idle before the runs: $IDLE_START% (other processes on these CPUs skew every figure)"
echo "  binary $BIN, 127.0.0.1 loopback, $(nproc) CPUs, bcrypt cost 12, $n_nodes nodes / $n_images images / $n_specs specs$([[ -n ${BENCH_GZIP:-} ]] && echo ', gzip')"
bench_line list_page1 "GET /nodes (HX) page 1   -t2 -c4"
bench_line list_search "GET /nodes?q=gpu&listed=1 -t2 -c4"
bench_line list_page1_c1 "GET /nodes (HX) page 1   -t1 -c1"
bench_line list_page1_c2 "GET /nodes (HX) page 1   -t2 -c2"
bench_line list_search_c1 "GET /nodes?q=gpu&listed=1 -t1 -c1"
bench_line list_page1_paced "GET /nodes page 1 ~${TARGET_RPS}/s -c${PACED_CONNS}"
bench_line login_post "POST /login (right pw)   -t2 -c2"
echo "  login POST: $(figure login_post non3xx) non-3xx responses out of $(figure login_post requests) (each success must be 303 → /);"
echo "    single sequential logins (curl, before the runs): ${LOGIN_SINGLE_MS[*]} ms"
echo "  login refusals, medians of $REFUSAL_ROUNDS each (same answer, one bcrypt check each): $REFUSAL_MEDIANS"
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
