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
#      alternating rounds, one key at a time, clock stopped at its TTY echo; then a 10 MB
#      paste through the WebSocket (stored size checked, the server's peak VmRSS sampled
#      every 50 ms: <= 64 MB);
#   6. removes the container, stops the server, drops the database, prints a summary.
#
# Knobs (environment): SUANLI_BENCH_PG, SUANLI_BENCH_LISTEN (127.0.0.1:18183),
# BENCH_SAMPLES (per path and round, 500), BENCH_ROUNDS (4), BENCH_SKIP_BUILD=1,
# BENCH_KEEP_DB=1 (keep the database afterwards).
# Needs: docker, script (util-linux), curl, psql/pg_isready, cargo (unless BENCH_SKIP_BUILD).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # log, die, ensure_*
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
cd "$SUANLI_ROOT"

PG_BASE=${SUANLI_BENCH_PG:-postgres://postgres@127.0.0.1:55432}
PG_BASE=${PG_BASE%/}
BENCH_DB=suanli_bench_terminal
TARGET_RSS_PEAK_MB=64
LISTEN=${SUANLI_BENCH_LISTEN:-127.0.0.1:18183}
BASE_URL="http://$LISTEN"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$TARGET_DIR/release/suanli"
CLIENT="$TARGET_DIR/release/examples/bench_terminal"
NEW_PASSWORD='Bench!pass123'
TEST_IMAGE=suanli-test/busybox:1
TARGET_ADDED_P50_MS=2

bench_require docker script curl psql pg_isready awk

bench_dirs term
CONTAINER=

remove_container() { [[ -z $CONTAINER ]] || docker rm -f "$CONTAINER" >/dev/null 2>&1 || true; }
bench_exit_trap remove_container

# ---------------------------------------------------------------- 1-3. engine, database, build
ensure_docker
ensure_test_image "$TEST_IMAGE"
bench_create_db
bench_build --bin suanli --example bench_terminal
[[ -x $CLIENT ]] || die "no client at $CLIENT"

# ---------------------------------------------------------------- 4. server, login, instance
bench_start_server RUST_LOG=warn
bench_login_admin "$NEW_PASSWORD"
curl -sS -c "$ADMIN_JAR" -b "$ADMIN_JAR" -o "$WORK/home.html" "$BASE_URL/"
CSRF=$(csrf_from "$WORK/home.html")
SESSION=$(session_from "$ADMIN_JAR")
[[ -n $CSRF && -n $SESSION ]] || die "no session or CSRF token after login"

bench_running_instance bench-term

# ---------------------------------------------------------------- 5. measure
log "measuring ($(nproc) CPUs, load $(cut -d ' ' -f 1-3 /proc/loadavg))"
bench_rss_watch "$WORK/rss"
BENCH_BASE=$BASE_URL BENCH_COOKIE="suanli_session=$SESSION" BENCH_CSRF=$CSRF BENCH_INSTANCE=$ID \
    BENCH_CONTAINER=$CONTAINER "$CLIENT" | tee "$WORK/client.out"
RSS_PEAK=$(bench_rss_peak "$WORK/rss")
STATS[paste]=$(sed -n 's/^BENCH paste //p' "$WORK/client.out")

# One STATS entry per BENCH line of the client: STATS[PATH] (websocket, docker-cli,
# engine-api) = "n=.. p50_ms=.. ...", STATS[added] = "added_p50_ms_vs_docker_cli=.. ...".
while read -r key rest; do
    STATS[${key#path=}]=$rest
done < <(sed -n 's/^BENCH \(path=[^ ]*\) /\1 /p; s/^BENCH added /added /p' "$WORK/client.out")
added=$(figure added added_p50_ms_vs_docker_cli)
floor=$(figure added added_p50_ms_vs_engine_api)
if gt "$added" "$TARGET_ADDED_P50_MS"; then
    VERDICT="FAIL"
else
    VERDICT="PASS"
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
PASTE_VERDICT=$(if [[ $(figure paste whole) == true ]] && ! gt "$RSS_PEAK" "$TARGET_RSS_PEAK_MB"; then echo PASS; else echo FAIL; fi)
echo "  paste of $(figure paste sent_bytes) bytes (64 KiB frames, echoed by the TTY): $(figure paste stored_bytes) stored," \
    "$(figure paste seconds) s ($(figure paste mb_s) MB/s)"
echo "  server VmRSS peak during the whole run: ${RSS_PEAK} MB (target: whole and <= ${TARGET_RSS_PEAK_MB} MB): $PASTE_VERDICT"
echo "  server log lines at WARN/ERROR: ${WARNINGS}"
echo "================================================================"
