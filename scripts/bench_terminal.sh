#!/usr/bin/env bash
# Keystroke echo round-trip of the browser terminal against `docker exec -it`.
#
#   scripts/bench_terminal.sh
#
# What it does:
#   1. makes sure the local Docker engine runs and has the busybox test image (lib.sh);
#   2. (re)creates the database `suanli_bench_terminal` on $SUANLI_BENCH_PG (default the
#      test cluster, postgres://postgres@127.0.0.1:55432; started if down);
#   3. builds the release server and the client (examples/bench_terminal.rs);
#   4. starts the server on 127.0.0.1:18183 with a temporary data dir, logs in as admin
#      (forced password change included), adds an image, a spec and a node on the local
#      engine, and creates an instance through the wizard's POST;
#   5. runs the client: the same container through our terminal WebSocket, through
#      `docker exec -it … sh` on a pty, and through the Engine API exec the server uses;
#      alternating rounds, one key at a time, clock stopped at its TTY echo;
#   6. removes the container, stops the server, drops the database, prints a summary.
#
# Knobs (environment): SUANLI_BENCH_PG, SUANLI_BENCH_LISTEN (127.0.0.1:18183),
# BENCH_SAMPLES (per path and round, 500), BENCH_ROUNDS (4), BENCH_SKIP_BUILD=1.
# Needs: docker, script (util-linux), curl, psql/pg_isready, cargo (unless BENCH_SKIP_BUILD).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # log, die, ensure_*
cd "$SUANLI_ROOT"

PG_BASE=${SUANLI_BENCH_PG:-postgres://postgres@127.0.0.1:55432}
PG_BASE=${PG_BASE%/}
BENCH_DB=suanli_bench_terminal
DB_URL="$PG_BASE/$BENCH_DB"
ADMIN_DB_URL="$PG_BASE/postgres"
LISTEN=${SUANLI_BENCH_LISTEN:-127.0.0.1:18183}
BASE_URL="http://$LISTEN"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$TARGET_DIR/release/suanli"
CLIENT="$TARGET_DIR/release/examples/bench_terminal"
NEW_PASSWORD='Bench!pass123'
TEST_IMAGE=suanli-test/busybox:1
TARGET_ADDED_P50_MS=2

for tool in docker script curl psql pg_isready awk; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

WORK=$(mktemp -d -t suanli-bench-term.XXXXXX)
DATA_DIR=$(mktemp -d -t suanli-bench-term-data.XXXXXX)
SERVER_LOG="$WORK/server.log"
SERVER_PID=
DB_CREATED=
CONTAINER=

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
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
    [[ -z $CONTAINER ]] || docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
    stop_server
    if [[ -n $DB_CREATED ]]; then
        psql_q -d "$ADMIN_DB_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $BENCH_DB"
    fi
    rm -rf "$WORK" "$DATA_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# csrf_from FILE - the csrf_token hidden field of an HTML page.
csrf_from() {
    { grep -o 'name="csrf_token" value="[^"]*"' "$1" || true; } | head -n 1 | sed 's/.*value="//; s/"$//'
}
# session_from JAR - the suanli_session cookie of a curl cookie jar.
session_from() {
    awk -F '\t' '$6 == "suanli_session" { v = $7 } END { print v }' "$1"
}

# ---------------------------------------------------------------- 1-3. engine, database, build
ensure_docker
ensure_test_image "$TEST_IMAGE"
if ! pg_isready -q -d "$ADMIN_DB_URL"; then
    [[ $PG_BASE == postgres://postgres@127.0.0.1:55432 ]] || die "no Postgres answers at $PG_BASE"
    ensure_postgres 55432 "$SUANLI_CACHE_DIR/test-pg" fast
fi
psql_q -d "$ADMIN_DB_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null
psql_q -d "$ADMIN_DB_URL" -c "CREATE DATABASE $BENCH_DB" >/dev/null
DB_CREATED=1

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
    ensure_cargo
    log "building the release server and the client (target dir $TARGET_DIR)"
    cargo build --release --bin suanli --example bench_terminal
fi
[[ -x $BIN && -x $CLIENT ]] || die "no $BIN or $CLIENT"

# ---------------------------------------------------------------- 4. server, login, instance
if curl -s -o /dev/null --max-time 2 "$BASE_URL/healthz"; then
    die "something already answers on $LISTEN: stop it or set SUANLI_BENCH_LISTEN"
fi
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^SUANLI(__|_CONFIG$)' || true)
log "starting $BIN on $LISTEN"
SUANLI__DATABASE__URL=$DB_URL \
    SUANLI__SERVER__LISTEN=$LISTEN \
    SUANLI__SERVER__DATA_DIR=$DATA_DIR \
    RUST_LOG=warn \
    "$BIN" serve >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
for ((i = 0; i < 600; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited during start-up"
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE_URL/readyz" || true) == 200 ]] && break
    sleep 0.1
done
[[ -s $DATA_DIR/initial-admin-password ]] || die "the server did not become ready"
INITIAL_PASSWORD=$(head -n 1 "$DATA_DIR/initial-admin-password")

JAR="$WORK/admin.jar"
curl -sS -c "$JAR" -b "$JAR" -o "$WORK/login.html" "$BASE_URL/login"
res=$(curl -sS -c "$JAR" -b "$JAR" -o /dev/null -w '%{http_code}' --data-urlencode username=admin \
    --data-urlencode "password=$INITIAL_PASSWORD" --data-urlencode "csrf_token=$(csrf_from "$WORK/login.html")" \
    "$BASE_URL/login")
[[ $res == 303 ]] || die "POST /login: $res"
curl -sS -c "$JAR" -b "$JAR" -o "$WORK/password.html" "$BASE_URL/password"
res=$(curl -sS -c "$JAR" -b "$JAR" -o /dev/null -w '%{http_code}' --data-urlencode "current=$INITIAL_PASSWORD" \
    --data-urlencode "new=$NEW_PASSWORD" --data-urlencode "confirm=$NEW_PASSWORD" \
    --data-urlencode "csrf_token=$(csrf_from "$WORK/password.html")" "$BASE_URL/password")
[[ $res == 303 ]] || die "POST /password: $res"
curl -sS -c "$JAR" -b "$JAR" -o "$WORK/home.html" "$BASE_URL/"
CSRF=$(csrf_from "$WORK/home.html")
SESSION=$(session_from "$JAR")
[[ -n $CSRF && -n $SESSION ]] || die "no session or CSRF token after login"

read -r IMG SPEC NODE < <(psql_q -d "$DB_URL" -tA -F ' ' -c "
    WITH i AS (INSERT INTO images (name, address, listed) VALUES ('busybox', '$TEST_IMAGE', true) RETURNING id),
         s AS (INSERT INTO specs (name, gpu_model, gpu_count, cpu_cores, memory_gb, system_disk_gb, data_disk_gb,
                                  price_per_hour_cents, listed)
               VALUES ('bench', 'none', 0, 1, 1, 10, 0, 100, true) RETURNING id),
         n AS (INSERT INTO nodes (name, region, cpu_cores, memory_gb, system_disk_gb, data_disk_gb, public_ip,
                                  private_ip, gpu_model, gpu_count, docker_endpoint, use_tls, listed)
               VALUES ('local', 'bench', 8, 16, 100, 100, '127.0.0.1', '127.0.0.1', 'none', 0,
                       'unix:///var/run/docker.sock', false, true) RETURNING id)
    SELECT i.id, s.id, n.id FROM i, s, n")
NAME="bench-term-$(date +%s)"
res=$(curl -sS -b "$JAR" -o "$WORK/create.html" -w '%{http_code}' -H 'HX-Request: true' -H "X-CSRF-Token: $CSRF" \
    --data "image_id=$IMG&spec_id=$SPEC&node_id=$NODE&node_spec_id=$SPEC&name=$NAME&remark=bench" \
    "$BASE_URL/instances")
[[ $res == 204 ]] || die "POST /instances: $res $(head -c 300 "$WORK/create.html")"
for ((i = 0; i < 300; i++)); do
    IFS='|' read -r ID PHASE CONTAINER STATUS < <(psql_q -d "$DB_URL" -tA -c \
        "SELECT id, phase, container_id, status FROM instances WHERE name = '$NAME'")
    [[ $PHASE == creating ]] || break
    sleep 0.1
done
[[ $PHASE == ready && $STATUS == running ]] || die "instance not running: phase=$PHASE status=$STATUS"
log "instance $ID running in container ${CONTAINER:0:12}"

# ---------------------------------------------------------------- 5. measure
log "measuring ($(nproc) CPUs, load $(cut -d ' ' -f 1-3 /proc/loadavg))"
BENCH_BASE=$BASE_URL BENCH_COOKIE="suanli_session=$SESSION" BENCH_CSRF=$CSRF BENCH_INSTANCE=$ID \
    BENCH_CONTAINER=$CONTAINER "$CLIENT" | tee "$WORK/client.out"

figure() { # PATH KEY
    sed -n "s/^BENCH path=$1\( [^ ]*\)* $2=\([^ ]*\).*/\2/p" "$WORK/client.out"
}
added=$(sed -n 's/^BENCH added_p50_ms_vs_docker_cli=\([^ ]*\).*/\1/p' "$WORK/client.out")
floor=$(sed -n 's/.* added_p50_ms_vs_engine_api=\([^ ]*\).*/\1/p' "$WORK/client.out")
if awk -v a="$added" -v t="$TARGET_ADDED_P50_MS" 'BEGIN { exit !(a <= t) }'; then
    VERDICT="PASS"
else
    VERDICT="FAIL"
fi
WARNINGS=$(grep -cE '\b(WARN|ERROR)\b' "$SERVER_LOG" || true)

echo
echo "================================================================ terminal echo bench"
echo "  loopback, release build, $(nproc) CPUs; one key at a time, clock stopped at its TTY echo"
for p in websocket docker-cli engine-api; do
    printf '  %-11s p50 %7s ms  p90 %7s ms  p99 %7s ms  mean %7s ms  (n=%s)\n' "$p" \
        "$(figure "$p" p50_ms)" "$(figure "$p" p90_ms)" "$(figure "$p" p99_ms)" "$(figure "$p" mean_ms)" "$(figure "$p" n)"
done
echo "  added p50, WebSocket vs docker exec -it: ${added} ms (target <= ${TARGET_ADDED_P50_MS} ms): $VERDICT"
echo "  added p50, WebSocket vs the bare Engine API exec (the WebSocket hop alone): ${floor} ms"
echo "  server log lines at WARN/ERROR: ${WARNINGS}"
echo "================================================================"
