#!/usr/bin/env bash
# The SSH jumpbox's three targets, against `docker exec` on the same container:
#
#   scripts/bench_jumpbox.sh
#
#   A. throughput: `cat` of a 200 MiB blob of random bytes through
#      `ssh -p PORT admin@127.0.0.1 <instance> -- cat BLOB` (no pty) and through
#      `docker exec <container> cat BLOB`, the order rotating per round; the streaming
#      rate from the first byte to the end (median per path) is compared: jumpbox >= 0.8x
#      direct, into a pipe the client reads (the target) and into a file on tmpfs. The
#      same runs go through a reference too: OpenSSH's own sshd on 127.0.0.1:22027
#      running `docker exec` (the SSH hop without Suanli, as an operator without a
#      jumpbox would give SSH access). The time to the first byte (TCP, key exchange,
#      bcrypt login, exec set-up) is shown apart;
#   B. keystroke echo round-trip: `ssh -tt … <instance>` (straight into the container's
#      shell) and `docker exec -it <container> sh`, both on a pty made by `script`, one key
#      at a time with `cat >/dev/null` running, alternating rounds; added p50 <= 1 ms. The
#      Engine API exec the server opens is measured too (the floor: no SSH hop);
#   C. 100 idle shells through the jumpbox (each one a docker exec): the server's VmRSS
#      growth once all have answered, <= 50 MB; then they are closed (half type `exit`,
#      half drop the connection) and every sessions row must be ended and every exec
#      shell gone from the container within a few seconds;
#   D. nothing dropped, memory bounded: 1 GiB (BENCH_PIPE_MB) piped into `cat > file` in
#      the container (sha256 compared) and a 500 MB (BENCH_TAR_MB) tar round trip, the
#      server's VmRSS sampled every 50 ms during each: <= 64 MB.
#
# What it does:
#   1. makes sure the local Docker engine runs and has the busybox test image (lib.sh);
#   2. (re)creates the database `suanli_bench_jumpbox` on $SUANLI_BENCH_PG (default the
#      test cluster, postgres://postgres@127.0.0.1:55432; started if down);
#   3. builds the release server and the client (examples/bench_jumpbox.rs);
#   4. starts the server on 127.0.0.1:18184 with its jumpbox on 127.0.0.1:22026 (200
#      sessions per user allowed), a temporary data dir; logs in as admin (forced password
#      change included: the new password is the jumpbox login), adds an image, a spec and
#      a node on the local engine, creates an instance through the wizard's POST and
#      writes the blob into its container;
#   5. starts the reference sshd (its own config, host key and client key in the
#      scratch directory; openssh-server installed without starting its service);
#   6. runs the client's three modes (A, B, C), waiting for idle CPUs before each;
#   7. removes the container, stops both servers, drops the database, prints a summary.
#
# Knobs (environment): SUANLI_BENCH_PG, SUANLI_BENCH_LISTEN (127.0.0.1:18184),
# SUANLI_BENCH_SSH_LISTEN (127.0.0.1:22026), BENCH_REF_LISTEN (127.0.0.1:22027; empty: no
# reference sshd), BENCH_MB (200), BENCH_CAT_ROUNDS (9 per path and sink: single runs vary by ±30 % on 2 vCPUs),
# BENCH_SSH_CIPHER (force one: aes256-gcm@openssh.com, aes256-ctr …; default: what the
# client and the server negotiate, chacha20-poly1305@openssh.com with OpenSSH),
# BENCH_SERVER_CIPHERS (the server's jumpbox.ciphers, e.g. aes256-gcm@openssh.com,aes128-gcm@openssh.com), BENCH_SAMPLES (echo keys per path and round, 300), BENCH_ROUNDS (echo
# rounds, 4), BENCH_SESSIONS (100), BENCH_OPEN_PARALLEL (logins at a time, 10),
# BENCH_WAIT_IDLE (60: seconds to wait for >= 85 % idle CPUs before each part),
# BENCH_SKIP_BUILD=1, BENCH_KEEP_DB=1 (keep the database afterwards).
# Needs: docker, ssh (OpenSSH client), sshd (openssh-server, for the reference), script
# (util-linux), curl, psql/pg_isready, cargo (unless BENCH_SKIP_BUILD).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # log, die, ensure_*
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
cd "$SUANLI_ROOT"

PG_BASE=${SUANLI_BENCH_PG:-postgres://postgres@127.0.0.1:55432}
PG_BASE=${PG_BASE%/}
BENCH_DB=suanli_bench_jumpbox
LISTEN=${SUANLI_BENCH_LISTEN:-127.0.0.1:18184}
SSH_LISTEN=${SUANLI_BENCH_SSH_LISTEN:-127.0.0.1:22026}
REF_LISTEN=${BENCH_REF_LISTEN-127.0.0.1:22027}
BASE_URL="http://$LISTEN"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$TARGET_DIR/release/suanli"
CLIENT="$TARGET_DIR/release/examples/bench_jumpbox"
NEW_PASSWORD='Bench!pass123'
TEST_IMAGE=suanli-test/busybox:1
BLOB=/tmp/bench-blob
BYTES=$((${BENCH_MB:-200} * 1024 * 1024))
SESSIONS=${BENCH_SESSIONS:-100}
WAIT_IDLE=${BENCH_WAIT_IDLE:-60}
TARGET_RATIO=0.8
TARGET_ADDED_P50_MS=1
TARGET_RSS_GROWTH_MB=50

bench_require docker ssh script curl psql pg_isready awk ssh-keygen
[[ -z $REF_LISTEN ]] || ensure_sshd_binary

bench_dirs jump
CONTAINER=
REF_PID=
SINK_FILE=
START=$SECONDS

clean_up() {
    [[ -z $CONTAINER ]] || docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
    [[ -z $REF_PID ]] || kill "$REF_PID" 2>/dev/null || true
    [[ -z $SINK_FILE ]] || rm -f "$SINK_FILE"
}
bench_exit_trap clean_up

# ---------------------------------------------------------------- 1-3. engine, database, build
ensure_docker
ensure_test_image "$TEST_IMAGE"
bench_create_db
bench_build --bin suanli --example bench_jumpbox
[[ -x $CLIENT ]] || die "no client at $CLIENT"

# ---------------------------------------------------------------- 4. server, login, instance
bench_start_server RUST_LOG=warn SUANLI__JUMPBOX__ENABLED=true SUANLI__JUMPBOX__LISTEN="$SSH_LISTEN" \
    SUANLI__JUMPBOX__MAX_SESSIONS_PER_USER=$((SESSIONS * 2)) SUANLI__JUMPBOX__CIPHERS="${BENCH_SERVER_CIPHERS:-}"
bench_login_admin "$NEW_PASSWORD"
curl -sS -c "$ADMIN_JAR" -b "$ADMIN_JAR" -o "$WORK/home.html" "$BASE_URL/"
CSRF=$(csrf_from "$WORK/home.html")
[[ -n $CSRF ]] || die "no CSRF token after login"

bench_running_instance bench-jump
log "writing $((BYTES / 1024 / 1024)) MiB of random bytes to $BLOB in the container"
docker exec "$CONTAINER" sh -c "head -c $BYTES /dev/urandom >$BLOB"

# The ssh client: password from an askpass script, no host key checks, no other auth.
cat >"$WORK/askpass.sh" <<'SH'
#!/bin/sh
printf '%s\n' "$BENCH_PASSWORD"
SH
chmod 700 "$WORK/askpass.sh"
export SSH_ASKPASS="$WORK/askpass.sh" SSH_ASKPASS_REQUIRE=force BENCH_PASSWORD=$NEW_PASSWORD LANG=C.UTF-8
SSH=(ssh -p "${SSH_LISTEN##*:}" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
    -o PreferredAuthentications=password -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1
    -o ConnectTimeout=10)
[[ -z ${BENCH_SSH_CIPHER:-} ]] || SSH+=(-c "$BENCH_SSH_CIPHER")
SSH+=("admin@${SSH_LISTEN%:*}")
# shellcheck disable=SC2016 # expanded by the container's shell
out=$("${SSH[@]}" "$NAME" -- echo 'ready-$((6*7))' 2>&1) || die "ssh one-shot through the jumpbox failed: $out"
[[ $out == ready-42 ]] || die "ssh one-shot through the jumpbox: expected ready-42, got '$out'"
"${SSH[@]}" -v "$NAME" -- true 2>"$WORK/ssh-v.log" || true
CIPHER=$(sed -n 's/.*kex: server->client cipher: \([^ ]*\) MAC: \([^ ]*\).*/\1 (MAC \2)/p' "$WORK/ssh-v.log" | head -n 1)
KEX=$(sed -n 's/.*kex: algorithm: \([^ ]*\).*/\1/p' "$WORK/ssh-v.log" | head -n 1)
log "jumpbox on $SSH_LISTEN answers; negotiated cipher ${CIPHER:-?}, kex ${KEX:-?}"

# ---------------------------------------------------------------- 5. the reference sshd
# The file sink: tmpfs when there is one (the disk's writeback would be noise).
SINK_DIR=/dev/shm
[[ -d $SINK_DIR && -w $SINK_DIR ]] || SINK_DIR=$WORK
SINK_FILE="$SINK_DIR/suanli-bench-jump.$$.out"
REF_SSH=()
if [[ -n $REF_LISTEN ]]; then
    bench_ref_sshd "$REF_LISTEN" ${BENCH_SERVER_CIPHERS:+"Ciphers $BENCH_SERVER_CIPHERS"}
    REF_SSH=(ssh -p "${REF_LISTEN##*:}" "${REF_SSH_BASE[@]}")
    [[ -z ${BENCH_SSH_CIPHER:-} ]] || REF_SSH+=(-c "$BENCH_SSH_CIPHER")
    REF_SSH+=("root@${REF_LISTEN%:*}")
    for _ in $(seq 50); do
        out=$("${REF_SSH[@]}" docker exec "$CONTAINER" echo ready 2>&1) && break
        sleep 0.1
    done
    [[ $out == ready ]] || die "the reference sshd on $REF_LISTEN does not answer: $out ($(tail -n 3 "$WORK/sshd.log"))"
    log "reference: OpenSSH sshd on $REF_LISTEN running docker exec"
fi

# client MODE - one mode of the client, its output in $WORK/MODE.out, figures in
# STATS[MODE.KEY] (one per BENCH line: "path=X …" → KEY X, "WORD …" → KEY WORD); CPU use
# during the run in STATS[MODE.cpu].
client() {
    local mode=$1 before after key rest
    echo
    bench_wait_idle "$WAIT_IDLE" 85
    echo "=== $mode   (CPU idle before: $(cpu_idle_pct)%)"
    before=$(cpu_ticks)
    BENCH_SSH="${SSH[*]}" BENCH_INSTANCE_NAME=$NAME BENCH_CONTAINER=$CONTAINER BENCH_SERVER_PID=$SERVER_PID \
        "$CLIENT" "$mode" | tee "$WORK/$mode.out"
    after=$(cpu_ticks)
    STATS[$mode.cpu]=$(cpu_share "$before" "$after")
    echo "CPU during the run: ${STATS[$mode.cpu]} (busy/steal: % of all $(nproc) CPUs; server/pg: % of one CPU)"
    while read -r key rest; do
        STATS[$mode.${key#path=}]=$rest
    done < <(sed -n 's/^BENCH //p' "$WORK/$mode.out")
}

# cpu_line MODE - the CPU figures of a client run, for the summary.
cpu_line() {
    local k=$1.cpu
    printf '  %-13s CPU: busy %s of all, steal %s; server %s of one CPU\n' "" \
        "$(figure "$k" cpu_busy)" "$(figure "$k" cpu_steal)" "$(figure "$k" cpu_server)"
}

verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }
le() { ! gt "$1" "$2"; } # A <= B (floats)

# ---------------------------------------------------------------- 6. measure
log "measuring ($(nproc) CPUs, load $(cut -d ' ' -f 1-3 /proc/loadavg))"
MEASURE_START=$SECONDS
RSS_START=$(bench_rss)

# A. throughput
BENCH_BLOB=$BLOB BENCH_BYTES=$BYTES BENCH_ROUNDS=${BENCH_CAT_ROUNDS:-9} BENCH_SINK_FILE=$SINK_FILE \
    BENCH_REF_SSH="${REF_SSH[*]}" client throughput
RATIO=$(figure throughput.ratio stream_ratio)
THROUGHPUT_VERDICT=$(verdict le "$TARGET_RATIO" "$RATIO")

# B. echo
client echo
ADDED=$(figure echo.added added_p50_ms_vs_docker_cli)
ECHO_VERDICT=$(verdict le "$ADDED" "$TARGET_ADDED_P50_MS")

# D. nothing dropped, memory bounded: 1 GiB into `cat > file` in the container, then a
# tar round trip (up with `tar x` in the container, down with `tar c`), each with the
# server's VmRSS sampled every 50 ms.
echo
bench_wait_idle "$WAIT_IDLE" 85
echo "=== pipes   (CPU idle before: $(cpu_idle_pct)%)"
PIPE_BYTES=$((${BENCH_PIPE_MB:-1024} * 1024 * 1024))
TAR_MB=${BENCH_TAR_MB:-500}
# the container's blob, copied to this host once
HOST_BLOB=$WORK/blob
docker exec "$CONTAINER" cat "$BLOB" >"$HOST_BLOB"
pipe_data() { # the blob again and again, PIPE_BYTES in all (the last cat meets a closed
    # pipe when head has its bytes: not a failure)
    { for _ in $(seq $(((PIPE_BYTES + BYTES - 1) / BYTES))); do cat "$HOST_BLOB"; done || true; } | head -c "$PIPE_BYTES"
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
PIPE_WANT=$(pipe_data | sha256sum | cut -d ' ' -f 1)
bench_rss_watch "$WORK/rss-pipe"
PIPE_START=$(date +%s.%N)
PIPE_GOT=$(pipe_data | "${SSH[@]}" "$NAME" -- 'cat > /tmp/pipe && sha256sum < /tmp/pipe; rm -f /tmp/pipe' | cut -d ' ' -f 1)
PIPE_S=$(elapsed "$PIPE_START")
PIPE_RSS=$(bench_rss_peak "$WORK/rss-pipe")
mkdir -p "$WORK/tar-src" "$WORK/tar-back"
for i in $(seq $(((TAR_MB * 1024 * 1024 + BYTES - 1) / BYTES))); do cp "$HOST_BLOB" "$WORK/tar-src/blob-$i"; done
seq 1 2000 >"$WORK/tar-src/small.txt"
bench_rss_watch "$WORK/rss-tar"
TAR_START=$(date +%s.%N)
tar cf - -C "$WORK/tar-src" . | "${SSH[@]}" "$NAME" -- 'rm -rf /tmp/t && mkdir /tmp/t && tar xf - -C /tmp/t'
"${SSH[@]}" "$NAME" -- 'tar cf - -C /tmp/t . && rm -rf /tmp/t' | tar xf - -C "$WORK/tar-back"
TAR_S=$(elapsed "$TAR_START")
TAR_RSS=$(bench_rss_peak "$WORK/rss-tar")
TAR_SAME=$(diff -rq "$WORK/tar-src" "$WORK/tar-back" >/dev/null && echo yes || echo no)
TAR_BYTES=$(du -sb "$WORK/tar-src" | cut -f 1)
rm -rf "$WORK/tar-src" "$WORK/tar-back" "$HOST_BLOB"
PIPES_VERDICT=$(if [[ $PIPE_GOT == "$PIPE_WANT" && $TAR_SAME == yes ]] && le "$PIPE_RSS" 64 && le "$TAR_RSS" 64; then echo PASS; else echo FAIL; fi)
echo "pipes: 1 GiB sha256 $([[ $PIPE_GOT == "$PIPE_WANT" ]] && echo same || echo DIFFERENT) in $PIPE_S s, VmRSS peak $PIPE_RSS MB;" \
    "tar $TAR_BYTES bytes same: $TAR_SAME in $TAR_S s, VmRSS peak $TAR_RSS MB: $PIPES_VERDICT"

# C. idle sessions, then closing them
BENCH_SESSIONS=$SESSIONS client idle
GROWTH=$(figure idle.open rss_growth_mb)
# Every sessions row ended and every exec shell gone (beyond those before the run)?
SHELLS_BEFORE=$(figure idle.open shells_before)
CLOSE_START=$(date +%s.%N)
CLOSE_DEADLINE=$((SECONDS + 15))
while :; do
    LIVE=$(psql_q -d "$DB_URL" -tA -c "SELECT count(*) FROM sessions WHERE ended_at IS NULL")
    SHELLS_LEFT=$(($(docker top "$CONTAINER" -o pid,args | awk '$2 == "sh" && NF == 2' | wc -l) - SHELLS_BEFORE))
    ((LIVE == 0 && SHELLS_LEFT <= 0)) && break
    ((SECONDS < CLOSE_DEADLINE)) || break
    sleep 0.1
done
CLOSE_WAIT=$(awk -v a="$CLOSE_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
ROWS=$(psql_q -d "$DB_URL" -tA -c "SELECT count(*) FROM sessions WHERE command = ''")
ENDS=$(psql_q -d "$DB_URL" -tA -c "SELECT string_agg(reason || ' ' || n, ', ' ORDER BY reason)
    FROM (SELECT coalesce(nullif(end_reason, ''), 'open') AS reason, count(*) AS n
          FROM sessions WHERE command = '' GROUP BY 1) r")
sleep 2
read -r RSS_CLOSED _ THREADS_CLOSED < <(bench_rss)
RSS_VERDICT=$(verdict le "$GROWTH" "$TARGET_RSS_GROWTH_MB")
OPENED=$(figure idle.open shells_open)
closed_ok() { ((LIVE == 0 && SHELLS_LEFT <= 0 && $(figure idle.close clients_exited) == SESSIONS)); }
CLOSE_VERDICT=$(verdict closed_ok)
WARNINGS=$(grep -cE '\b(WARN|ERROR)\b' "$SERVER_LOG" || true)
if ((WARNINGS > 0)); then
    echo
    echo "--- server log lines at WARN/ERROR (first 10):"
    grep -E '\b(WARN|ERROR)\b' "$SERVER_LOG" | head -n 10
fi

# ---------------------------------------------------------------- 7. summary
echo
echo "================================================================ jumpbox bench"
echo "  loopback, release build, $(nproc) CPUs; cipher ${CIPHER:-?}, kex ${KEX:-?}"
echo "  took $((SECONDS - START)) s, of which measuring $((SECONDS - MEASURE_START)) s"
PATHS=(jumpbox docker-exec)
[[ -z $REF_LISTEN ]] || PATHS+=(sshd)
echo "  A. cat of $((BYTES / 1024 / 1024)) MiB (random), median of $(figure throughput.jumpbox runs) runs per path and sink, order rotating"
echo "     (sshd: OpenSSH's sshd running docker exec, the reference):"
for sink in pipe file; do
    if [[ $sink == pipe ]]; then echo "   into a pipe the client reads (the target):"; else echo "   into a file on $SINK_DIR:"; fi
    for p in "${PATHS[@]}"; do
        k=throughput.$([[ $sink == pipe ]] || echo file-)$p
        printf '  %-13s stream %6s MB/s (min %s, max %s)  first byte after %5s ms  overall %6s MB/s\n' "$p" \
            "$(figure "$k" stream_mb_s)" "$(figure "$k" min_stream_mb_s)" "$(figure "$k" max_stream_mb_s)" \
            "$(figure "$k" first_byte_ms)" "$(figure "$k" overall_mb_s)"
    done
done
cpu_line throughput
echo "  CPU seconds per GB streamed into the pipe (median run): machine | suanli | dockerd | containerd-shim | client"
for p in "${PATHS[@]}"; do
    k=throughput.cpu_$p
    printf '  %-13s %6s | %6s | %6s | %6s | %6s\n' "$p" "$(figure "$k" machine_s_per_gb)" \
        "$(figure "$k" server_s_per_gb)" "$(figure "$k" dockerd_s_per_gb)" \
        "$(figure "$k" shim_s_per_gb)" "$(figure "$k" client_s_per_gb)"
done
echo "  jumpbox / direct streaming rate into the pipe: ${RATIO}x (target >= ${TARGET_RATIO}x): $THROUGHPUT_VERDICT" \
    "(median of the per-round ratios: $(figure throughput.ratio paired_ratio_median)x)"
echo "  jumpbox / direct into the file: $(figure throughput.file_ratio stream_ratio)x" \
    "(per-round median $(figure throughput.file_ratio paired_ratio_median)x)"
if [[ -n $REF_LISTEN ]]; then
    for sink in pipe file; do
        k=throughput.${sink}_reference
        echo "  reference, into the $sink: sshd / direct $(figure "$k" sshd_vs_direct)x;" \
            "jumpbox / sshd $(figure "$k" jumpbox_vs_sshd)x (per-round median $(figure "$k" jumpbox_vs_sshd_paired)x)"
    done
fi
echo "  B. keystroke echo, one key at a time, clock stopped at its TTY echo:"
for p in jumpbox docker-cli engine-api; do
    k=echo.$p
    printf '  %-13s p50 %7s ms  p90 %7s ms  p99 %7s ms  mean %7s ms  (n=%s)\n' "$p" \
        "$(figure "$k" p50_ms)" "$(figure "$k" p90_ms)" "$(figure "$k" p99_ms)" "$(figure "$k" mean_ms)" "$(figure "$k" n)"
done
cpu_line echo
echo "  added p50, jumpbox vs docker exec -it: ${ADDED} ms (target <= ${TARGET_ADDED_P50_MS} ms): $ECHO_VERDICT"
echo "  added p50, jumpbox vs the bare Engine API exec (the SSH hop alone): $(figure echo.added added_p50_ms_vs_engine_api) ms"
echo "  C. $SESSIONS idle shells through the jumpbox (opened in $(figure idle.open open_s) s, $(figure idle.open shells_open) exec shells in the container):"
echo "  server VmRSS $(figure idle.open rss_before_mb) MB before, $(figure idle.open rss_open_mb) MB with all open:" \
    "+${GROWTH} MB, $(figure idle.open per_session_kb) kB per session (target <= ${TARGET_RSS_GROWTH_MB} MB): $RSS_VERDICT"
echo "  closed $(figure idle.close typed_exit) by exit + $(figure idle.close killed) by dropping the client, clients gone" \
    "$(figure idle.close clients_exited)/$SESSIONS in $(figure idle.close close_s) s; then after ${CLOSE_WAIT} s: sessions rows" \
    "still open $LIVE (of $ROWS shells: $ENDS), exec shells left $SHELLS_LEFT (of $((OPENED - SHELLS_BEFORE)) opened): $CLOSE_VERDICT"
echo "  server VmRSS at start $(cut -d ' ' -f 1 <<<"$RSS_START") MB, after closing ${RSS_CLOSED} MB ($THREADS_CLOSED threads)"
cpu_line idle
echo "  D. $((PIPE_BYTES / 1024 / 1024)) MiB into \`cat > file\`: sha256 $([[ $PIPE_GOT == "$PIPE_WANT" ]] && echo same || echo DIFFERENT)," \
    "$PIPE_S s ($(awk -v b="$PIPE_BYTES" -v s="$PIPE_S" 'BEGIN { printf "%.0f", b / 1e6 / s }') MB/s), server VmRSS peak ${PIPE_RSS} MB"
echo "     tar round trip of $((TAR_BYTES / 1000000)) MB (up, then down): files the same: $TAR_SAME, $TAR_S s, server VmRSS peak ${TAR_RSS} MB"
echo "     (target: whole, VmRSS <= 64 MB during each): $PIPES_VERDICT"
echo "  server log lines at WARN/ERROR: ${WARNINGS}"
echo "================================================================"
