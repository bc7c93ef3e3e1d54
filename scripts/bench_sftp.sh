#!/usr/bin/env bash
# SFTP through the jumpbox (issue 18), against `docker cp` of the same file into the same
# container and against OpenSSH's sshd + sftp-server on this host:
#
#   scripts/bench_sftp.sh
#
#   - put and get of a BENCH_MB (1024) MiB file of random bytes, each path BENCH_ROUNDS (3)
#     times, the paths taking turns; the median rate per path and direction;
#   - CPU seconds per GB moved: the whole machine, the Suanli server, dockerd (and for the
#     reference the sshd + sftp-server processes), from /proc;
#   - the server's VmRSS peak during the jumpbox transfers (sampled every 50 ms), target
#     <= 64 MB, and the sha256 of what came back.
#
# What it does: makes sure the local Docker engine runs with the busybox test image,
# (re)creates the database `suanli_bench_sftp` on $SUANLI_BENCH_PG (default the test
# cluster), builds the release server, starts it with its jumpbox on 127.0.0.1:22036,
# logs in as admin, creates an instance through the wizard's POST, starts a private sshd
# on 127.0.0.1:22037 (sftp-server, key login), measures, cleans up.
#
# Knobs: SUANLI_BENCH_PG, SUANLI_BENCH_LISTEN (127.0.0.1:18186), SUANLI_BENCH_SSH_LISTEN
# (127.0.0.1:22036), BENCH_REF_LISTEN (127.0.0.1:22037), BENCH_MB (1024), BENCH_ROUNDS (3),
# BENCH_SKIP_BUILD=1, BENCH_KEEP_DB=1.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
cd "$SUANLI_ROOT"

PG_BASE=${SUANLI_BENCH_PG:-postgres://postgres@127.0.0.1:55432}
PG_BASE=${PG_BASE%/}
BENCH_DB=suanli_bench_sftp
LISTEN=${SUANLI_BENCH_LISTEN:-127.0.0.1:18186}
SSH_LISTEN=${SUANLI_BENCH_SSH_LISTEN:-127.0.0.1:22036}
REF_LISTEN=${BENCH_REF_LISTEN:-127.0.0.1:22037}
BASE_URL="http://$LISTEN"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$TARGET_DIR/release/suanli"
NEW_PASSWORD='Bench!pass123'
TEST_IMAGE=suanli-test/busybox:1
MB=${BENCH_MB:-1024}
ROUNDS=${BENCH_ROUNDS:-3}
TARGET_RSS_MB=64

bench_require docker ssh sftp curl psql pg_isready awk ssh-keygen sha256sum
ensure_sshd_binary
SFTP_SERVER=$(sed -n 's/^Subsystem[[:space:]]*sftp[[:space:]]*//p' /etc/ssh/sshd_config 2>/dev/null | head -n 1)
[[ -x ${SFTP_SERVER:-} ]] || SFTP_SERVER=/usr/lib/openssh/sftp-server
[[ -x $SFTP_SERVER ]] || die "no sftp-server at $SFTP_SERVER"

bench_dirs sftp
CONTAINER=
REF_PID=
clean_up() {
    [[ -z $CONTAINER ]] || docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
    [[ -z $REF_PID ]] || kill "$REF_PID" 2>/dev/null || true
    rm -rf /tmp/suanli-bench-sftp-ref.$$
}
bench_exit_trap clean_up

ensure_docker
ensure_test_image "$TEST_IMAGE"
bench_create_db
bench_build --bin suanli

bench_start_server RUST_LOG=warn SUANLI__JUMPBOX__ENABLED=true SUANLI__JUMPBOX__LISTEN="$SSH_LISTEN"
bench_login_admin "$NEW_PASSWORD"
curl -sS -c "$ADMIN_JAR" -b "$ADMIN_JAR" -o "$WORK/home.html" "$BASE_URL/"
CSRF=$(csrf_from "$WORK/home.html")
[[ -n $CSRF ]] || die "no CSRF token after login"
bench_running_instance bench-sftp

cat >"$WORK/askpass.sh" <<'SH'
#!/bin/sh
printf '%s\n' "$BENCH_PASSWORD"
SH
chmod 700 "$WORK/askpass.sh"
export SSH_ASKPASS="$WORK/askpass.sh" SSH_ASKPASS_REQUIRE=force BENCH_PASSWORD=$NEW_PASSWORD LANG=C.UTF-8
JUMP=(sftp -P "${SSH_LISTEN##*:}" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
    -o PreferredAuthentications=password -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1
    -o BatchMode=no -b - "admin@$NAME@${SSH_LISTEN%:*}")

bench_ref_sshd "$REF_LISTEN" "Subsystem sftp $SFTP_SERVER"
REF=(sftp -P "${REF_LISTEN##*:}" "${REF_SSH_BASE[@]}" -b - "root@${REF_LISTEN%:*}")
REF_DIR=/tmp/suanli-bench-sftp-ref.$$
mkdir -p "$REF_DIR"
for _ in $(seq 50); do
    echo "pwd" | "${REF[@]}" >/dev/null 2>&1 && break
    sleep 0.1
done

SRC=$WORK/src.bin
BACK=$WORK/back.bin
log "writing $MB MiB of random bytes to $SRC"
head -c $((MB * 1024 * 1024)) /dev/urandom >"$SRC"
WANT=$(sha256sum <"$SRC" | cut -d ' ' -f 1)
BYTES=$((MB * 1024 * 1024))

# CPU ticks: machine busy, the server, dockerd, and sshd (with its children)
ticks_of() { # PIDS... - utime + stime (+ children's) of each
    local pid t=0
    for pid in "$@"; do
        t=$((t + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
snapshot() {
    local busy
    busy=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat)
    echo "$busy $(ticks_of "$SERVER_PID") $(ticks_of $(pgrep -x dockerd)) $(ticks_of "$REF_PID")"
}
HZ=$(getconf CLK_TCK)
declare -A RATE CPU
# run PATH DIRECTION - one transfer, its rate and CPU seconds per GB appended
run() {
    local path=$1 dir=$2 before after start s
    rm -f "$BACK"
    before=$(snapshot)
    start=$(date +%s.%N)
    case $path/$dir in
        jumpbox/put) echo "put $SRC /root/big.bin" | "${JUMP[@]}" >/dev/null ;;
        jumpbox/get) echo "get /root/big.bin $BACK" | "${JUMP[@]}" >/dev/null ;;
        docker/put) docker cp "$SRC" "$CONTAINER:/root/big-cp.bin" >/dev/null ;;
        docker/get) docker cp "$CONTAINER:/root/big-cp.bin" "$BACK" >/dev/null ;;
        sshd/put) echo "put $SRC $REF_DIR/big.bin" | "${REF[@]}" >/dev/null ;;
        sshd/get) echo "get $REF_DIR/big.bin $BACK" | "${REF[@]}" >/dev/null ;;
    esac
    s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    after=$(snapshot)
    if [[ $dir == get ]]; then
        [[ $(sha256sum <"$BACK" | cut -d ' ' -f 1) == "$WANT" ]] || die "$path get: the file came back different"
    fi
    RATE[$path/$dir]+="$(awk -v b="$BYTES" -v s="$s" 'BEGIN { printf "%.0f", b / 1e6 / s }') "
    CPU[$path/$dir]+="$(awk -v a="$before" -v b="$after" -v hz="$HZ" -v gb="$((BYTES / 1000000))" 'BEGIN {
        split(a, x, " "); split(b, y, " "); g = gb / 1000
        printf "%.2f/%.2f/%.2f/%.2f", (y[1] - x[1]) / hz / g, (y[2] - x[2]) / hz / g, (y[3] - x[3]) / hz / g, (y[4] - x[4]) / hz / g }') "
}
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# cpu_median PATH/DIR FIELD - the median of one CPU figure (1 machine, 2 server, 3 dockerd, 4 sshd)
cpu_median() { tr ' ' '\n' <<<"${CPU[$1]}" | grep -v '^$' | cut -d / -f "$2" | median; }

log "measuring: $ROUNDS rounds of put and get, $MB MiB, paths taking turns"
bench_rss_watch "$WORK/rss"
PATHS=(jumpbox docker sshd)
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#PATHS[@]}; k++)); do
        p=${PATHS[$(((k + r) % ${#PATHS[@]}))]}
        run "$p" put
        run "$p" get
    done
done
RSS_PEAK=$(bench_rss_peak "$WORK/rss")
INSIDE=$(docker exec "$CONTAINER" sha256sum /root/big.bin | cut -d ' ' -f 1)
[[ $INSIDE == "$WANT" ]] || die "the jumpbox's upload is different inside the container"

echo
echo "================================================================ sftp bench"
echo "  loopback, release build, $(nproc) CPUs, $MB MiB random file, median of $ROUNDS runs"
printf '  %-8s %-4s %8s   %s\n' path dir "MB/s" "CPU s/GB: machine | suanli | dockerd | sshd+sftp-server"
for p in "${PATHS[@]}"; do
    for d in put get; do
        printf '  %-8s %-4s %8s   %8s | %6s | %7s | %6s\n' "$p" "$d" "$(median <<<"${RATE[$p/$d]}")" \
            "$(cpu_median "$p/$d" 1)" "$(cpu_median "$p/$d" 2)" "$(cpu_median "$p/$d" 3)" "$(cpu_median "$p/$d" 4)"
    done
done
for d in put get; do
    j=$(median <<<"${RATE[jumpbox/$d]}")
    echo "  $d: jumpbox / docker cp $(awk -v a="$j" -v b="$(median <<<"${RATE[docker/$d]}")" 'BEGIN { printf "%.2f", a / b }')x," \
        "jumpbox / sshd $(awk -v a="$j" -v b="$(median <<<"${RATE[sshd/$d]}")" 'BEGIN { printf "%.2f", a / b }')x"
done
RSS_VERDICT=$(if gt "$RSS_PEAK" "$TARGET_RSS_MB"; then echo FAIL; else echo PASS; fi)
echo "  server VmRSS peak during all transfers: $RSS_PEAK MB (target <= $TARGET_RSS_MB MB): $RSS_VERDICT"
echo "  sha256 of every get and of the upload inside the container: same"
echo "================================================================"
