#!/usr/bin/env bash
# The ZJMF /api/ backend on LXD (issue 6), against the release server, this machine's LXD
# daemon and a Debian 12 image built here (scripts/lib.sh ensure_lxd_debian_image):
#
#   scripts/bench_lxd.sh
#
#   A. GET /api/getinfo?hostname=H on one running container, 20 concurrent clients (wrk
#      -c20 with the apikey header); target p99 < 50 ms (the Flask backend sleeps 1 s per
#      call to sample CPU, so it needs >= 1,020 ms);
#   B. POST /api/create to its `code 200` (the container running, its DHCP address known,
#      the password set with chpasswd, the SSH forward applied), Debian image; target
#      < 5 s (the Flask backend: 14-19 s);
#   C. create-to-running: the same create against `lxc launch` of the same image until
#      eth0 has an IPv4 address (what our create waits for), alternating; target overhead
#      <= 10 % (medians);
#   D. port forwards with 5,000 existing rules (random external ports, as SSH forwards are
#      drawn, over 10 running containers): the start-up restore after iptables forgot
#      them (a reboot; the server's own "rewrote the chains … in N ms" and the wall time
#      from `serve` to the last rule in iptables), target <= 1 s; then POST /api/addport
#      and /api/delport one rule at a time, p50 target <= 20 ms each.
#
# What it does: starts LXD (dir pool, lxdbr0) and builds/imports the Debian image if
# missing; (re)creates the database `suanli_bench_lxd` on $SUANLI_BENCH_PG (default the
# test cluster); builds and starts the release server on 127.0.0.1:18186 with an API token
# and its own iptables chains (SLBENCH-*); runs B and C alternately, then A on one
# container; then D on containers of the busybox test image; deletes every container it
# made (also on failure) and the chains, stops the server, drops the database, prints a
# summary. The server listens on 127.0.0.1:18186 without a jumpbox and writes only its own
# chains, so it runs beside a panel started by scripts/serve.sh.
#
# Knobs (environment): SUANLI_BENCH_PG, SUANLI_BENCH_LXD_LISTEN (127.0.0.1:18186),
# BENCH_CREATES (rounds of C, each one create and one lxc launch, in turn first; 6), BENCH_DURATION
# (wrk, 15s), BENCH_CONNECTIONS (20), SUANLI_BENCH_LXD_SOCKET, BENCH_IMAGE (suanli-bench/debian12),
# BENCH_SKIP_BUILD=1, BENCH_KEEP_DB=1, BENCH_PARTS (all, or nat: D alone), BENCH_NAT_RULES
# (5000), BENCH_NAT_BOXES (10), BENCH_NAT_ROUNDS (100 addport + delport pairs),
# BENCH_NAT_IMAGE (suanli-test/busybox-lxd).
# Needs: lxc, wrk, curl, python3 (reads the JSON replies), iptables, psql/pg_isready, cargo.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
cd "$SUANLI_ROOT"

PG_BASE=${SUANLI_BENCH_PG:-postgres://postgres@127.0.0.1:55432}
PG_BASE=${PG_BASE%/}
BENCH_DB=suanli_bench_lxd
LISTEN=${SUANLI_BENCH_LXD_LISTEN:-127.0.0.1:18186}
BASE_URL="http://$LISTEN"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$TARGET_DIR/release/suanli"
IMAGE=${BENCH_IMAGE:-suanli-bench/debian12}
ROUNDS=${BENCH_CREATES:-6}
((ROUNDS % 2 == 0)) || ROUNDS=$((ROUNDS + 1)) # each order as often
LXD_SOCKET=${SUANLI_BENCH_LXD_SOCKET:-/var/lib/lxd/unix.socket}
CHAIN=SLBENCH
TOKEN="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
TARGET_P99_MS=50
TARGET_CREATE_S=5
TARGET_OVERHEAD_PCT=10
PARTS=${BENCH_PARTS:-all}
[[ $PARTS == all || $PARTS == nat ]] || die "BENCH_PARTS: all or nat, not $PARTS"
NAT_RULES=${BENCH_NAT_RULES:-5000}
NAT_BOXES=${BENCH_NAT_BOXES:-10}
NAT_ROUNDS=${BENCH_NAT_ROUNDS:-100}
NAT_IMAGE=${BENCH_NAT_IMAGE:-suanli-test/busybox-lxd}
TARGET_NAT_MS=20
TARGET_RESTORE_MS=1000

bench_require lxc wrk curl python3 psql pg_isready iptables
bench_dirs lxd
START=$SECONDS
MADE=() # every container name this run may have made

remove_everything() {
    local n
    for n in "${MADE[@]}"; do
        lxc delete --force "$n" >/dev/null 2>&1 || true
    done
    bench_stop_server
    remove_nat_chains "$CHAIN"
}
bench_exit_trap remove_everything

# ---------------------------------------------------------------- set-up
ensure_lxd
IMAGE_START=$SECONDS
if [[ $PARTS == all ]]; then
    [[ $IMAGE != suanli-bench/debian12 ]] || ensure_lxd_debian_image "$IMAGE"
    lxc image info "$IMAGE" >/dev/null || die "LXD has no image $IMAGE"
fi
[[ $NAT_IMAGE != suanli-test/busybox-lxd ]] || ensure_lxd_test_image "$NAT_IMAGE"
lxc image info "$NAT_IMAGE" >/dev/null || die "LXD has no image $NAT_IMAGE"
IMAGE_S=$((SECONDS - IMAGE_START))
bench_create_db
bench_build --bin suanli
# start_server - the server with the API on (again after a stop: same database and data)
start_server() {
    bench_start_server RUST_LOG=warn,suanli::ops::nat=debug SUANLI__ZJMF__API_TOKENS="$TOKEN" \
        SUANLI__ZJMF__DEFAULT_IMAGE="$IMAGE" SUANLI__ZJMF__NAT_CHAIN="$CHAIN" \
        SUANLI__JUMPBOX__ENABLED=false SUANLI__ZJMF__LXD_SOCKET="$LXD_SOCKET"
}
start_server

# api METHOD PATH [JSON] - one call; prints "HTTP_STATUS SECONDS BODY".
api() {
    local args=(-sS -o "$WORK/reply.json" -w '%{http_code} %{time_total}' -H "apikey: $TOKEN" -X "$1")
    [[ -z ${3:-} ]] || args+=(-H 'Content-Type: application/json' --data "$3")
    local head
    head=$(curl "${args[@]}" "$BASE_URL$2")
    echo "$head $(cat "$WORK/reply.json")"
}

# json_field FIELD - a field of the JSON on stdin (dotted path), empty when missing.
json_field() {
    python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$1"
}

# create NAME - POST /api/create as the plugin sends it (strings, "" = unlimited); prints
# the seconds to the code-200 reply; dies on anything else.
create() {
    local body reply
    body=$(printf '{"hostname":"%s","password":"Bench!pass123","cpu":"1","disk":"2048","ram":"512","system":"%s","up":"","down":"","ports":"3","bandwidth":""}' "$1" "$IMAGE")
    MADE+=("$1")
    reply=$(api POST /api/create "$body")
    local status=${reply%% *} rest=${reply#* }
    local secs=${rest%% *} json=${rest#* }
    [[ $status == 200 && $(json_field code <<<"$json") == 200 ]] || die "create $1: HTTP $status $json"
    [[ -n $(json_field data.ssh_port <<<"$json") ]] || die "create $1: no data.ssh_port in $json"
    echo "$secs"
}

# launch NAME - `lxc launch` of the same image with the same limits; prints the seconds
# until eth0 has an IPv4 address, polled every 20 ms over LXD's socket (an `lxc list`
# costs ~25 ms itself).
launch() {
    MADE+=("$1")
    local t0
    t0=$(date +%s.%N)
    lxc launch "$IMAGE" "$1" -c limits.cpu=1 -c limits.memory=512MB -d root,size=2048MB >/dev/null
    until curl -s --unix-socket "$LXD_SOCKET" "lxd/1.0/instances/$1/state" |
        python3 -c 'import json, sys
nets = (json.load(sys.stdin).get("metadata") or {}).get("network") or {}
sys.exit(not any(a["family"] == "inet" for a in (nets.get("eth0") or {}).get("addresses", [])))'; do
        awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN { exit !(now - t0 > 60) }' && die "lxc launch $1: no address within 60 s"
        sleep 0.02
    done
    awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", now - t0 }'
}

# settle - before each timed create or launch: the previous one's writes reach the disk
# (a dir pool unpacks ~200 MB per container; its writeback slowed whichever ran next by
# 1-3 s) and the CPUs are idle again.
settle() {
    sync
    bench_wait_idle 30 85
}

delete_api() {
    local reply
    reply=$(api GET "/api/delete?hostname=$1")
    [[ ${reply%% *} == 200 ]] || die "delete $1: $reply"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo " " hi }'; }
# pct P VALUES... - the P-th percentile (nearest rank)
pct() {
    local p=$1
    shift
    printf '%s\n' "$@" | sort -g | awk -v p="$p" '{ v[NR] = $1 } END { i = int((NR * p + 99) / 100); if (i < 1) i = 1; print v[i] }'
}
now_ms() { date +%s%3N; }

# ---------------------------------------------------------------- B + C
part_bc() {
    log "measuring on $(nproc) CPUs, image $IMAGE"
    # warm-up: the image's first unpack into the pool, untimed
    local warm=bench-warm-$$ r ours theirs c l
    create "$warm" >/dev/null
    delete_api "$warm"
    CREATES=() LAUNCHES=()
    C_FIRST=() C_SECOND=() L_FIRST=() L_SECOND=() # by position in the round
    for ((r = 1; r <= ROUNDS; r++)); do
        ours=bench-api-$$-$r theirs=bench-cli-$$-$r
        if ((r % 2)); then
            settle; c=$(create "$ours")
            settle; l=$(launch "$theirs")
        else
            settle; l=$(launch "$theirs")
            settle; c=$(create "$ours")
        fi
        echo "round $r: api create ${c}s, lxc launch ${l}s"
        CREATES+=("$c")
        LAUNCHES+=("$l")
        if ((r % 2)); then C_FIRST+=("$c") L_SECOND+=("$l"); else L_FIRST+=("$l") C_SECOND+=("$c"); fi
        delete_api "$ours"
        lxc delete --force "$theirs" >/dev/null
    done
    CREATE_MED=$(median "${CREATES[@]}")
    LAUNCH_MED=$(median "${LAUNCHES[@]}")
    read -r CREATE_MIN CREATE_MAX < <(minmax "${CREATES[@]}")
    read -r LAUNCH_MIN LAUNCH_MAX < <(minmax "${LAUNCHES[@]}")
    OVERHEAD=$(awk -v c="$CREATE_MED" -v l="$LAUNCH_MED" 'BEGIN { printf "%.1f", 100 * (c - l) / l }')
}

# ---------------------------------------------------------------- A
part_a() {
    local box=bench-info-$$ reply
    create "$box" >/dev/null
    bench_write_lua "$LUA"
    BENCH_LINE_WIDTH=30
    settle
    bench_run_wrk getinfo 2 "${BENCH_CONNECTIONS:-20}" "${BENCH_DURATION:-15s}" \
        "$BASE_URL/api/getinfo?hostname=$box" -H "apikey: $TOKEN"
    reply=$(api GET "/api/getinfo?hostname=$box")
    INFO_JSON=${reply#* }
    INFO_JSON=${INFO_JSON#* }
    delete_api "$box"
}

# ---------------------------------------------------------------- D
# dnat_lines - the DNAT rules in the bench server's chains now
dnat_lines() { iptables-save -t nat | grep -cE "^-A $CHAIN-N[0-9]+ .* -j DNAT" || true; }

# port_call PATH HOSTNAME PORT - addport/delport as the plugin posts it (a form body);
# prints "HTTP_STATUS SECONDS".
port_call() {
    curl -sS -o "$WORK/port.json" -w '%{http_code} %{time_total}' -H "apikey: $TOKEN" \
        --data "hostname=$2&dtype=tcp&dport=$3&sport=8080" "$BASE_URL$1"
}

part_nat() {
    local i name boxes=() t0 n want deadline
    log "D: $NAT_BOXES containers of $NAT_IMAGE with $NAT_RULES forwards between them"
    for ((i = 1; i <= NAT_BOXES; i++)); do
        name=bench-nat-$$-$i
        MADE+=("$name")
        boxes+=("$name")
        lxc launch "$NAT_IMAGE" "$name" >/dev/null
    done
    deadline=$((SECONDS + 90))
    until (($(lxc list "^bench-nat-$$-" -c 4 --format csv | grep -c eth0 || true) == NAT_BOXES)); do
        ((SECONDS < deadline)) || die "the containers got no IPv4 address within 90 s"
        sleep 0.5
    done
    # straight into the store, on distinct random external ports (as SSH forwards are drawn)
    psql_q -d "$DB_URL" -c "
        INSERT INTO nat_rules (hostname, proto, ext_port, int_port)
        SELECT 'bench-nat-$$-' || (1 + (row_number() OVER () % $NAT_BOXES)), 'tcp', p, 22
        FROM (SELECT p FROM generate_series(10000, 65535) p ORDER BY random() LIMIT $NAT_RULES) s" >/dev/null

    # a reboot: iptables forgets every rule; the restarted server puts them back
    bench_stop_server
    remove_nat_chains "$CHAIN"
    settle
    t0=$(now_ms)
    start_server
    # the server logs the rewrite once its last rule (and the jumps) are in
    local done_re="nat: rewrote the chains with $NAT_RULES forward\(s\) of $NAT_RULES rule\(s\) in ([0-9]+) ms"
    deadline=$((SECONDS + 60))
    until grep -qE "$done_re" "$SERVER_LOG"; do
        ((SECONDS < deadline)) || die "no start-up restore of $NAT_RULES forwards within 60 s"
        sleep 0.02
    done
    RESTORE_WALL_MS=$(($(now_ms) - t0))
    RESTORE_MS=$(sed -n -E "s/.*$done_re.*/\1/p" "$SERVER_LOG" | head -n 1)
    LISTEN_LINE=$(grep -o 'nat: forwards listen on .*' "$SERVER_LOG" | head -n 1 || true)
    want=$(dnat_lines)
    ((want >= NAT_RULES)) || log "warning: only $want DNAT rules for $NAT_RULES forwards (${LISTEN_LINE:-no listen address found})"
    log "restored $want DNAT rules: the rewrite took $RESTORE_MS ms, $RESTORE_WALL_MS ms from the server's start"

    # one addport, then its delport, on free ports of one container
    settle
    local ports reply status secs added=0
    mapfile -t ports < <(psql_q -d "$DB_URL" -tA -c "
        SELECT p FROM generate_series(10000, 65535) p
        WHERE p NOT IN (SELECT ext_port FROM nat_rules) ORDER BY random() LIMIT $((NAT_ROUNDS * 2))")
    NAT_ADD=() NAT_DEL=()
    for i in "${ports[@]}"; do
        ((added < NAT_ROUNDS)) || break
        reply=$(port_call /api/addport "${boxes[0]}" "$i")
        status=${reply%% *} secs=${reply#* }
        # a port some process of this host listens on is refused: take the next one
        [[ $status == 409 ]] && continue
        [[ $status == 200 ]] || die "addport $i: HTTP $status $(cat "$WORK/port.json")"
        NAT_ADD+=("$(awk -v s="$secs" 'BEGIN { printf "%.2f", s * 1000 }')")
        reply=$(port_call /api/delport "${boxes[0]}" "$i")
        status=${reply%% *} secs=${reply#* }
        [[ $status == 200 ]] || die "delport $i: HTTP $status $(cat "$WORK/port.json")"
        NAT_DEL+=("$(awk -v s="$secs" 'BEGIN { printf "%.2f", s * 1000 }')")
        added=$((added + 1))
    done
    ((added == NAT_ROUNDS)) || die "only $added free ports could be forwarded"
    # a delport masks its lines; the sampler (every 5 s) reaps them in one transaction
    local waited=0
    while n=$(dnat_lines); ((n != want)) || masked_lines_left; do
        ((waited < 150)) || die "after the addport/delport pairs iptables holds $n DNAT rules, not $want"
        sleep 0.1
        waited=$((waited + 1))
    done
}

masked_lines_left() { iptables-save -t nat | grep -qE "^-A $CHAIN-N[0-9]+ .*suanli-gone"; }

# server_split added|removed - the server's own timing lines for one kind of change: the
# median of each figure ("total X ms (lock …, store …, iptables …)")
server_split() {
    local labels lines c out=
    if [[ $1 == added ]]; then labels=(total lock store iptables); else labels=(total lock "store and iptables"); fi
    lines=$(grep -oE "nat: $1 rule [0-9]+ in .*" "$SERVER_LOG" || true)
    [[ -n $lines ]] || { echo "(no timing lines)"; return; }
    for ((c = 1; c <= ${#labels[@]}; c++)); do
        # the c-th figure followed by "ms" on each line
        # shellcheck disable=SC2046 # one figure a word
        out+="${labels[c - 1]} $(median $(awk -v c="$c" '{ n = 0; for (i = 1; i < NF; i++) if ($(i + 1) ~ /^ms[,)]?$/ && ++n == c) print $i }' <<<"$lines")) ms"
        ((c == 1)) && out+=" (" || out+=", "
    done
    echo "${out%, })"
}

# each part's figures (the summary prints those that ran)
MEASURE_START=$SECONDS
if [[ $PARTS == all ]]; then
    part_bc
    part_a
fi
part_nat
RSS=$(bench_rss)

verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# ---------------------------------------------------------------- summary
echo
echo "================================================================ ZJMF / LXD bench"
echo "  release build, $(nproc) CPUs, LXD $(lxc version 2>/dev/null | sed -n 's/^Server version: //p'), parts $PARTS; took $((SECONDS - START)) s (images $IMAGE_S s, measuring $((SECONDS - MEASURE_START)) s)"
if [[ $PARTS == all ]]; then
    echo "  A. getinfo, ${BENCH_CONNECTIONS:-20} concurrent clients:"
    bench_line getinfo "GET /api/getinfo"
    echo "     a reply: $(head -c 300 <<<"$INFO_JSON")"
    echo "     target p99 < $TARGET_P99_MS ms: $(verdict lt "$(figure getinfo p99_ms)" "$TARGET_P99_MS")"
    echo "  B. create to code 200 (running, address, password, SSH forward), $ROUNDS runs, image $IMAGE:"
    echo "     median ${CREATE_MED} s (min $CREATE_MIN, max $CREATE_MAX); target < $TARGET_CREATE_S s: $(verdict lt "$CREATE_MED" "$TARGET_CREATE_S")"
    echo "  C. create-to-running vs lxc launch (until eth0 has IPv4), alternating:"
    echo "     api ${CREATE_MED} s vs lxc launch ${LAUNCH_MED} s (min $LAUNCH_MIN, max $LAUNCH_MAX): overhead ${OVERHEAD} %; target <= $TARGET_OVERHEAD_PCT %: $(verdict le "$OVERHEAD" "$TARGET_OVERHEAD_PCT")"
    echo "     by position in the round (medians; the dir pool's unpack I/O makes whichever runs first slower):"
    echo "       first:  api $(median "${C_FIRST[@]}") s vs lxc launch $(median "${L_FIRST[@]}") s"
    echo "       second: api $(median "${C_SECOND[@]}") s vs lxc launch $(median "${L_SECOND[@]}") s"
fi
echo "  D. port forwards, $NAT_RULES existing rules over $NAT_BOXES containers (${LISTEN_LINE:-listen addresses not logged}):"
echo "     start-up restore after iptables forgot them: rewrite $RESTORE_MS ms ($RESTORE_WALL_MS ms from the server's start to the last rule); target <= $TARGET_RESTORE_MS ms: $(verdict le "$RESTORE_MS" "$TARGET_RESTORE_MS")"
echo "     natadd (POST /api/addport), $NAT_ROUNDS calls: p50 $(pct 50 "${NAT_ADD[@]}") ms, p90 $(pct 90 "${NAT_ADD[@]}") ms, max $(pct 100 "${NAT_ADD[@]}") ms; target p50 <= $TARGET_NAT_MS ms: $(verdict le "$(pct 50 "${NAT_ADD[@]}")" "$TARGET_NAT_MS")"
echo "     natdel (POST /api/delport), $NAT_ROUNDS calls: p50 $(pct 50 "${NAT_DEL[@]}") ms, p90 $(pct 90 "${NAT_DEL[@]}") ms, max $(pct 100 "${NAT_DEL[@]}") ms; target p50 <= $TARGET_NAT_MS ms: $(verdict le "$(pct 50 "${NAT_DEL[@]}")" "$TARGET_NAT_MS")"
echo "     the sampler's reaps of masked (deleted) lines: $(grep -oE "nat: reaped [0-9]+ removed forward\(s\) in [0-9.]+ ms" "$SERVER_LOG" | sed -E 's/nat: reaped ([0-9]+) .* in ([0-9.]+) ms/\1 in \2 ms/' | paste -sd, - | sed 's/,/, /g')"
echo "     inside the server (its debug log), medians: $(server_split added) per add; $(server_split removed) per delete"
echo "  server RSS at the end: $RSS (MB, peak MB, threads)"
if grep -qE '\b(WARN|ERROR)\b' "$SERVER_LOG"; then
    echo "  server log lines at WARN/ERROR:"
    grep -E '\b(WARN|ERROR)\b' "$SERVER_LOG" | head -n 10
fi
echo "================================================================"
