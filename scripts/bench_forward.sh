#!/usr/bin/env bash
# Tunnel throughput of the jumpbox's `ssh -L` (issue 18), against a direct connection
# to the container and against OpenSSH's own `-L` through a local sshd:
#
#   scripts/bench_forward.sh
#
#   `curl` downloads a 1 GiB (BENCH_MB) file from `busybox httpd` in a busybox instance
#   on the local engine, BENCH_ROUNDS times per path, the paths taking turns:
#     jumpbox  ssh -N -L P:localhost:8080 admin@<instance>@127.0.0.1 -p <jumpbox port>
#     direct   http://<container address on its tenant network>:8080 (no SSH at all)
#     sshd     ssh -N -L P:<container address>:8080 root@127.0.0.1 -p 22028, a private
#              OpenSSH sshd (its own config, host and client key in the scratch dir;
#              openssh-server installed without starting its service)
#   and prints the median rate (MB/s) per path, with the CPU seconds per GB of the SSH
#   server (the panel's process; the sshd's processes for that connection) and of the
#   ssh client, read from /proc/<pid>/stat before and after each download. The file is
#   sparse (zeros): the ciphers' cost does not depend on the bytes, and nothing needs
#   writing to disk.
#
# What it does: the local engine and the busybox test image (lib.sh); a scratch database
# `suanli_bench_forward` on $SUANLI_BENCH_PG (default the test cluster on :55432); the
# release build; the server on 127.0.0.1:18185 with its jumpbox on 127.0.0.1:22029; an
# admin login (forced password change), an instance through the wizard's POST; httpd in
# the container; the reference sshd; the rounds; clean-up (container, servers, database).
#
# Knobs: SUANLI_BENCH_PG, SUANLI_BENCH_LISTEN (127.0.0.1:18185), SUANLI_BENCH_SSH_LISTEN
# (127.0.0.1:22029), BENCH_REF_LISTEN (127.0.0.1:22028), BENCH_MB (1024), BENCH_ROUNDS (3),
# BENCH_SSH_CIPHER (force one cipher on both SSH paths), BENCH_WAIT_IDLE (60: seconds to
# wait for >= 85 % idle CPUs first), BENCH_SKIP_BUILD=1, BENCH_KEEP_DB=1.
# Needs: docker, ssh, sshd, curl, psql/pg_isready, cargo (unless BENCH_SKIP_BUILD).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # log, die, ensure_*
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
cd "$SUANLI_ROOT"

PG_BASE=${SUANLI_BENCH_PG:-postgres://postgres@127.0.0.1:55432}
PG_BASE=${PG_BASE%/}
BENCH_DB=suanli_bench_forward
LISTEN=${SUANLI_BENCH_LISTEN:-127.0.0.1:18185}
SSH_LISTEN=${SUANLI_BENCH_SSH_LISTEN:-127.0.0.1:22029}
REF_LISTEN=${BENCH_REF_LISTEN:-127.0.0.1:22028}
BASE_URL="http://$LISTEN"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$TARGET_DIR/release/suanli"
NEW_PASSWORD='Bench!pass123'
TEST_IMAGE=suanli-test/busybox:1
MB=${BENCH_MB:-1024}
BYTES=$((MB * 1024 * 1024))
ROUNDS=${BENCH_ROUNDS:-3}
WAIT_IDLE=${BENCH_WAIT_IDLE:-60}
HZ=$(getconf CLK_TCK)

bench_require docker ssh curl psql pg_isready ssh-keygen
ensure_sshd_binary

bench_dirs fwd
CONTAINER=
REF_PID=
TUNNEL_PID=
clean_up() {
    [[ -z $TUNNEL_PID ]] || kill "$TUNNEL_PID" 2>/dev/null || true
    [[ -z $CONTAINER ]] || docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
    [[ -z $REF_PID ]] || kill "$REF_PID" 2>/dev/null || true
}
bench_exit_trap clean_up

# ---------------------------------------------------------------- engine, database, build
ensure_docker
ensure_test_image "$TEST_IMAGE"
bench_create_db
bench_build --bin suanli

# ---------------------------------------------------------------- server, login, instance
bench_start_server RUST_LOG=warn SUANLI__JUMPBOX__ENABLED=true SUANLI__JUMPBOX__LISTEN="$SSH_LISTEN"
bench_login_admin "$NEW_PASSWORD"
curl -sS -c "$ADMIN_JAR" -b "$ADMIN_JAR" -o "$WORK/home.html" "$BASE_URL/"
CSRF=$(csrf_from "$WORK/home.html")
[[ -n $CSRF ]] || die "no CSRF token after login"
bench_running_instance bench-fwd
docker exec "$CONTAINER" sh -c "mkdir -p /www && truncate -s $BYTES /www/big && echo pong >/www/ping"
docker exec -d "$CONTAINER" httpd -f -p 8080 -h /www
ADDR=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$CONTAINER")
[[ -n $ADDR ]] || die "the container has no address"
log "httpd serves $MB MiB at $ADDR:8080 in the container"

# ---------------------------------------------------------------- the SSH clients
cat >"$WORK/askpass.sh" <<'SH'
#!/bin/sh
printf '%s\n' "$BENCH_PASSWORD"
SH
chmod 700 "$WORK/askpass.sh"
export SSH_ASKPASS="$WORK/askpass.sh" SSH_ASKPASS_REQUIRE=force BENCH_PASSWORD=$NEW_PASSWORD LANG=C.UTF-8
SSH_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10
    -o ExitOnForwardFailure=yes -N)
[[ -z ${BENCH_SSH_CIPHER:-} ]] || SSH_OPTS+=(-c "$BENCH_SSH_CIPHER")

bench_ref_sshd "$REF_LISTEN" "AllowTcpForwarding yes"
log "reference: OpenSSH sshd on $REF_LISTEN (pid $REF_PID)"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ticks PID... - utime + stime of the processes and all their descendants.
ticks() {
    local all=() p kids
    local queue=("$@")
    while ((${#queue[@]})); do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        all+=("$p")
        kids=$(pgrep -P "$p" || true)
        # shellcheck disable=SC2206 # pids: no spaces
        [[ -z $kids ]] || queue+=($kids)
    done
    local sum=0 t
    for p in "${all[@]}"; do
        t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
        sum=$((sum + t))
    done
    echo "$sum"
}

# open_tunnel PATH - starts the ssh -L of PATH (jumpbox or sshd) on a free port; sets
# TUNNEL_PID and TUNNEL_PORT once the port answers.
open_tunnel() {
    TUNNEL_PORT=$(free_port)
    case $1 in
        jumpbox)
            ssh -p "${SSH_LISTEN##*:}" "${SSH_OPTS[@]}" -o PreferredAuthentications=password -o PubkeyAuthentication=no \
                -L "$TUNNEL_PORT:localhost:8080" "admin@$NAME@${SSH_LISTEN%:*}" &
            ;;
        sshd)
            ssh -p "${REF_LISTEN##*:}" "${SSH_OPTS[@]}" -i "$WORK/ref_client_key" -o BatchMode=yes \
                -L "$TUNNEL_PORT:$ADDR:8080" "root@${REF_LISTEN%:*}" &
            ;;
    esac
    TUNNEL_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do
        [[ $(curl -s --max-time 2 "http://127.0.0.1:$TUNNEL_PORT/ping" || true) == pong ]] && return 0
        kill -0 "$TUNNEL_PID" 2>/dev/null || die "the $1 tunnel's ssh exited"
        sleep 0.1
    done
    die "the $1 tunnel does not answer"
}

close_tunnel() {
    kill "$TUNNEL_PID" 2>/dev/null || true
    wait "$TUNNEL_PID" 2>/dev/null || true
    TUNNEL_PID=
}

declare -A RATES=() SERVER_CPU=() CLIENT_CPU=()
# one PATH ROUND - one download; appends "MB/s" to RATES[PATH] and CPU s/GB.
one() {
    local path=$1 url server_pids=() s0 s1 c0 c1 out size secs
    case $path in
        direct) url="http://$ADDR:8080/big" ;;
        *)
            open_tunnel "$path"
            url="http://127.0.0.1:$TUNNEL_PORT/big"
            ;;
    esac
    case $path in
        jumpbox) server_pids=("$SERVER_PID") ;;
        sshd) server_pids=("$REF_PID") ;;
    esac
    s0=0 c0=0
    ((${#server_pids[@]} == 0)) || s0=$(ticks "${server_pids[@]}")
    [[ -z $TUNNEL_PID ]] || c0=$(ticks "$TUNNEL_PID")
    out=$(curl -sS -o /dev/null -w '%{size_download} %{time_total}' "$url")
    s1=0 c1=0
    ((${#server_pids[@]} == 0)) || s1=$(ticks "${server_pids[@]}")
    [[ -z $TUNNEL_PID ]] || c1=$(ticks "$TUNNEL_PID")
    [[ -z $TUNNEL_PID ]] || close_tunnel
    read -r size secs <<<"$out"
    ((size == BYTES)) || die "$path: got $size bytes, expected $BYTES"
    local rate cpu_s cpu_c
    rate=$(awk -v b="$size" -v t="$secs" 'BEGIN { printf "%.0f", b / 1e6 / t }')
    cpu_s=$(awk -v d=$((s1 - s0)) -v hz="$HZ" -v b="$size" 'BEGIN { printf "%.2f", d / hz / (b / 1e9) }')
    cpu_c=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v b="$size" 'BEGIN { printf "%.2f", d / hz / (b / 1e9) }')
    RATES[$path]+="$rate "
    SERVER_CPU[$path]+="$cpu_s "
    CLIENT_CPU[$path]+="$cpu_c "
    if [[ $path == direct ]]; then
        printf '  %-8s round %d: %5s MB/s in %6.2f s\n' "$path" "$2" "$rate" "$secs"
    else
        printf '  %-8s round %d: %5s MB/s in %6.2f s; SSH server %s CPU s/GB, ssh client %s CPU s/GB\n' \
            "$path" "$2" "$rate" "$secs" "$cpu_s" "$cpu_c"
    fi
}

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

bench_wait_idle "$WAIT_IDLE" 85
log "downloading $MB MiB per path, $ROUNDS rounds, the paths taking turns"
PATHS=(jumpbox direct sshd)
for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < ${#PATHS[@]}; k++)); do
        one "${PATHS[$(((k + r - 1) % ${#PATHS[@]}))]}" "$r"
    done
done
sessions=$(psql_q -d "$DB_URL" -tA -c "SELECT count(*) || ' rows, ' || coalesce(sum(bytes_out), 0) || ' bytes out' FROM sessions WHERE protocol = 'tunnel'")

echo
echo "== tunnel throughput, $MB MiB per download, median of $ROUNDS (CPU: seconds per GB moved)"
for p in "${PATHS[@]}"; do
    server=$(median "${SERVER_CPU[$p]}")
    client=$(median "${CLIENT_CPU[$p]}")
    [[ $p != direct ]] || server=- client=-
    printf '  %-8s %6s MB/s   SSH server %5s CPU s/GB   ssh client %5s CPU s/GB\n' \
        "$p" "$(median "${RATES[$p]}")" "$server" "$client"
done
echo "  jumpbox / direct: $(awk -v a="$(median "${RATES[jumpbox]}")" -v b="$(median "${RATES[direct]}")" 'BEGIN { printf "%.2f", a / b }')x;" \
    "jumpbox / sshd: $(awk -v a="$(median "${RATES[jumpbox]}")" -v b="$(median "${RATES[sshd]}")" 'BEGIN { printf "%.2f", a / b }')x"
echo "  sessions table (protocol tunnel): $sessions"
