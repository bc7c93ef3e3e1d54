# shellcheck shell=bash
# Shared pieces of the benchmark scripts (source, don't run; scripts/lib.sh first):
# a scratch database, the release server started on it, an admin login through the
# forced password change, wrk runs with one BENCHSTAT line each, CPU accounting.
#
# The caller sets, before calling these functions:
#   PG_BASE (postgres://user@host:port, no trailing slash), BENCH_DB, LISTEN,
#   BASE_URL=http://$LISTEN, BIN (the server binary); and WORK, DATA_DIR, SERVER_LOG,
#   LUA through `bench_dirs NAME`.
# The functions set: DB_URL, ADMIN_DB_URL, DB_CREATED, SERVER_PID, INITIAL_PASSWORD,
# SESSION and ADMIN_JAR (after bench_login_admin), STATS[run] (after bench_run_wrk).
# bench_cleanup stops the server, drops the database (unless BENCH_KEEP_DB) and removes
# WORK and DATA_DIR; call it from the caller's EXIT trap, or let bench_exit_trap set one.
# Summary lines (bench_line): BENCH_LINE_WIDTH (label column, 38) and BENCH_LINE_NON3XX
# (non-empty: also the non-3xx count), both settable after sourcing.

SERVER_PID=
DB_CREATED=
declare -A STATS=() # run name -> "p50_ms=.. p99_ms=.. rps=.. ..." (from the Lua done())
BENCH_LINE_WIDTH=38
BENCH_LINE_NON3XX=
BENCH_EXIT_HOOK=

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# bench_require TOOL... - installs the Debian package of each missing tool (the load
# generator wrk, lxc, the ssh client, ...); dies when one is still missing.
bench_require() {
    local tool pkg
    for tool in "$@"; do
        command -v "$tool" >/dev/null && continue
        case $tool in
            psql | pg_isready) pkg=postgresql-client ;;
            ssh | ssh-keygen) pkg=openssh-client ;;
            sshd) pkg=openssh-server ;;
            script) pkg=bsdutils ;;
            lxc) pkg=lxd ;;
            docker) pkg=docker.io ;;
            *) pkg=$tool ;;
        esac
        ensure_apt "$pkg"
        command -v "$tool" >/dev/null || die "$tool not found (package $pkg)"
    done
}

# bench_dirs NAME - the run's scratch directories: WORK (cookie jars, wrk outputs, the
# server log SERVER_LOG, the wrk script LUA) and the server's DATA_DIR.
bench_dirs() {
    WORK=$(mktemp -d -t "suanli-bench-$1.XXXXXX")
    DATA_DIR=$(mktemp -d -t "suanli-bench-$1-data.XXXXXX")
    SERVER_LOG="$WORK/server.log"
    LUA="$WORK/bench.lua"
}

# bench_create_db - (re)create $BENCH_DB on $PG_BASE; starts the test cluster if it is
# the default address and down.
bench_create_db() {
    DB_URL="$PG_BASE/$BENCH_DB"
    ADMIN_DB_URL="$PG_BASE/postgres"
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
}

# bench_build [CARGO_BUILD_ARGS...] - cargo build --release (plus the arguments, e.g.
# --bin suanli --example NAME) unless BENCH_SKIP_BUILD; dies without $BIN.
# shellcheck disable=SC2120 # the arguments are optional
bench_build() {
    if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
        ensure_cargo
        log "building (cargo build --release${*:+ $*}; target dir ${CARGO_TARGET_DIR:-target})"
        local build_start=$SECONDS
        (cd "$SUANLI_ROOT" && cargo build --release "$@")
        log "build done in $((SECONDS - build_start)) s"
    fi
    [[ -x $BIN ]] || die "no binary at $BIN"
}

# bench_start_server [VAR=VALUE...] - start $BIN serve on $LISTEN with the data dir
# $DATA_DIR, bcrypt cost 12 and the extra environment given; wait for /readyz; read the
# first admin password. SUANLI__* settings of the caller's environment are dropped;
# RUST_LOG is the caller's (default warn) unless given here. The jumpbox (when enabled)
# listens on a free loopback port unless SUANLI__JUMPBOX__LISTEN is given: the default
# 0.0.0.0:2026 is a panel's started by scripts/serve.sh on the same machine; for the same
# reason tenant networks are named suanli-bench-… (a panel's are suanli-tenant-…). The
# benches seed their own nodes: the first start registers no local one.
bench_start_server() {
    if curl -s -o /dev/null --max-time 2 "$BASE_URL/healthz"; then
        die "something already answers on $LISTEN: stop it or pick another address"
    fi
    local v
    while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^SUANLI(__|_CONFIG$)' || true)
    log "starting $BIN on $LISTEN (data dir $DATA_DIR, bcrypt cost 12${*:+, $*})"
    (
        cd "$SUANLI_ROOT" || exit 1
        exec env SUANLI__DATABASE__URL="$DB_URL" \
            SUANLI__SERVER__LISTEN="$LISTEN" \
            SUANLI__SERVER__DATA_DIR="$DATA_DIR" \
            SUANLI__SECURITY__BCRYPT_COST=12 \
            SUANLI__JUMPBOX__LISTEN=127.0.0.1:0 \
            SUANLI__DOCKER__TENANT_NETWORK_PREFIX=suanli-bench- \
            SUANLI__DOCKER__LOCAL_NODE=false \
            RUST_LOG="${RUST_LOG:-warn}" \
            "$@" "$BIN" serve
    ) >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    local i ready=
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
}

# bench_stop_server - stop the server we started (by its pid): TERM, then KILL after 10 s.
bench_stop_server() {
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

# bench_cleanup RC - the end of the caller's EXIT trap: server log tail on failure, stop
# the server, drop the database, remove the scratch dirs.
bench_cleanup() {
    local rc=$1
    if ((rc != 0)) && [[ -s $SERVER_LOG ]]; then
        log "failed (exit $rc); last lines of the server log:"
        tail -n 20 "$SERVER_LOG" | grep -v 'password `' >&2 || true
    fi
    bench_stop_server
    if [[ -n $DB_CREATED && -z ${BENCH_KEEP_DB:-} ]]; then
        psql_q -d "$ADMIN_DB_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $BENCH_DB"
    elif [[ -n $DB_CREATED ]]; then
        log "kept database $DB_URL (BENCH_KEEP_DB)"
    fi
    rm -rf "$WORK" "$DATA_DIR"
}

# bench_exit_trap [HOOK] - EXIT trap: the function HOOK (the caller's own clean-up, e.g.
# containers) first, then bench_cleanup, exiting with the script's status; INT/TERM exit 130.
# shellcheck disable=SC2120 # the arguments are optional
bench_exit_trap() {
    BENCH_EXIT_HOOK=${1:-}
    trap bench_on_exit EXIT
    trap 'exit 130' INT TERM
}
bench_on_exit() {
    local rc=$?
    trap - EXIT
    [[ -z $BENCH_EXIT_HOOK ]] || "$BENCH_EXIT_HOOK"
    bench_cleanup "$rc"
    exit "$rc"
}

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

# bench_login_admin NEW_PASSWORD - log in as admin with the initial password, go through
# the forced password change; sets SESSION (the suanli_session cookie value) and ADMIN_JAR
# (its curl cookie jar, for further requests as admin).
bench_login_admin() {
    ADMIN_JAR="$WORK/admin.jar"
    local new=$1 jar=$ADMIN_JAR token res
    curl -sS -c "$jar" -b "$jar" -o "$WORK/login.html" "$BASE_URL/login"
    token=$(csrf_from "$WORK/login.html")
    [[ -n $token ]] || die "no csrf_token on GET /login"
    res=$(curl -sS -c "$jar" -b "$jar" -o "$WORK/login-post.html" -w '%{http_code} %{redirect_url}' \
        --data-urlencode username=admin --data-urlencode "password=$INITIAL_PASSWORD" \
        --data-urlencode "csrf_token=$token" "$BASE_URL/login")
    [[ $res == "303 $BASE_URL/password" ]] || die "POST /login with the initial password: expected '303 → /password', got '$res'"
    curl -sS -c "$jar" -b "$jar" -o "$WORK/password.html" "$BASE_URL/password"
    token=$(csrf_from "$WORK/password.html")
    [[ -n $token ]] || die "no csrf_token on GET /password"
    res=$(curl -sS -c "$jar" -b "$jar" -o "$WORK/password-post.html" -w '%{http_code} %{redirect_url}' \
        --data-urlencode "current=$INITIAL_PASSWORD" --data-urlencode "new=$new" \
        --data-urlencode "confirm=$new" --data-urlencode "csrf_token=$token" "$BASE_URL/password")
    [[ $res == 303* ]] || die "POST /password: expected 303, got '$res'"
    SESSION=$(session_from "$jar")
    [[ -n $SESSION ]] || die "no suanli_session cookie after the password change"
    log "logged in as admin (password changed; session cookie ${#SESSION} bytes)"
}

# bench_login USER PASSWORD - log in a user that needs no password change; prints the
# suanli_session cookie value.
bench_login() {
    local user=$1 pw=$2 jar="$WORK/login-$1.jar" token res
    curl -sS -c "$jar" -b "$jar" -o "$WORK/login-$user.html" "$BASE_URL/login"
    token=$(csrf_from "$WORK/login-$user.html")
    [[ -n $token ]] || die "no csrf_token on GET /login"
    res=$(curl -sS -c "$jar" -b "$jar" -o /dev/null -w '%{http_code} %{redirect_url}' \
        --data-urlencode "username=$user" --data-urlencode "password=$pw" \
        --data-urlencode "csrf_token=$token" "$BASE_URL/login")
    [[ $res == "303 $BASE_URL/" ]] || die "POST /login as $user: expected '303 → /', got '$res'"
    session_from "$jar"
}

# figure RUN KEY - one figure of a wrk run, e.g. `figure list_page1 p99_ms`.
figure() {
    local line=" ${STATS[$1]:-}"
    sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$line"
}

# gt A B - A > B (floats).
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

# cpu_idle_pct - idle share of all CPUs over one second (other load skews the figures).
cpu_idle_pct() {
    local a b
    a=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; printf "%.0f", (d > 0 ? 100 * (y[1] - x[1]) / d : 0) }'
}

# bench_wait_idle MAX_SECONDS MIN_PCT - wait (up to MAX_SECONDS) until the CPUs are at
# least MIN_PCT idle over a second; a warning when they never are.
bench_wait_idle() {
    local max=$1 min=$2 start=$SECONDS idle
    while :; do
        idle=$(cpu_idle_pct)
        ((idle >= min)) && return 0
        if ((SECONDS - start >= max)); then
            log "warning: CPUs still only $idle% idle after waiting $max s; going on"
            return 0
        fi
        ((SECONDS - start < 2)) && log "waiting up to $max s for the CPUs to be >= $min% idle (now $idle%)"
        sleep 4
    done
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

# bench_write_lua FILE - the wrk script of every run: an optional POST body from
# $BENCH_BODY, optional exponential think time from $BENCH_THINK_MS, per-status counts
# summed over the threads, and one machine-readable BENCHSTAT line from done().
bench_write_lua() {
    cat >"$1" <<'LUA'
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
}

# bench_run_wrk NAME THREADS CONNECTIONS DURATION URL [wrk args...] - one wrk run with
# the Lua script $LUA; its BENCHSTAT figures plus CPU shares go to STATS[NAME].
bench_run_wrk() {
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

# bench_think_ms CONNS RATE LATENCY_MS - mean think time so that CONNS connections offer
# about RATE req/s in total at the given latency (at least 1 ms).
bench_think_ms() {
    awk -v c="$1" -v r="$2" -v l="$3" 'BEGIN { t = c * 1000 / r - l; printf "%.1f", (t < 1 ? 1 : t) }'
}

# bench_line NAME LABEL - one summary line (figures and CPU) of a wrk run; the label
# column is BENCH_LINE_WIDTH wide, the non-3xx count shown when BENCH_LINE_NON3XX is set.
bench_line() {
    local w=$BENCH_LINE_WIDTH non3xx=
    [[ -z $BENCH_LINE_NON3XX ]] || non3xx=", non-3xx $(figure "$1" non3xx)"
    printf '  %-*s p50 %8s ms  p99 %8s ms  %8s req/s  (%s requests, non-2xx %s%s, socket errors %s; statuses %s)\n' \
        "$w" "$2" "$(figure "$1" p50_ms)" "$(figure "$1" p99_ms)" "$(figure "$1" rps)" "$(figure "$1" requests)" \
        "$(figure "$1" non2xx)" "$non3xx" "$(figure "$1" socket_errors)" "$(figure "$1" statuses)"
    printf '  %-*s CPU: busy %s of all, steal %s; server %s, Postgres %s of one CPU\n' "$w" "" \
        "$(figure "$1" cpu_busy)" "$(figure "$1" cpu_steal)" "$(figure "$1" cpu_server)" "$(figure "$1" cpu_pg)"
}

# bench_rss - "RSS_MB HWM_MB THREADS" of the running server.
bench_rss() {
    awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } /^Threads:/ { t = $2 }
        END { printf "%.1f %.1f %d\n", r / 1024, h / 1024, t }' "/proc/$SERVER_PID/status"
}

# bench_rss_watch FILE - samples the server's VmRSS (kB) into FILE every 50 ms in the
# background until bench_rss_peak FILE stops it; bench_rss_peak prints the peak in MB.
bench_rss_watch() {
    local file=$1
    : >"$file"
    (while [[ -r /proc/$SERVER_PID/status ]]; do
        awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"
        sleep 0.05
    done) >>"$file" 2>/dev/null &
    RSS_WATCH_PID=$!
}
bench_rss_peak() {
    kill "$RSS_WATCH_PID" 2>/dev/null || true
    wait "$RSS_WATCH_PID" 2>/dev/null || true
    awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { printf "%.1f", m / 1024 }' "$1"
}

# bench_explain LABEL SQL [SETUP...] - EXPLAIN (ANALYZE, BUFFERS) of SQL after two
# warm-up runs, in one session after the SETUP statements (SET …, PREPARE …); prints the
# plan and sets EXPLAIN_MS to the execution time.
bench_explain() {
    local label=$1 sql=$2 plan s
    shift 2
    local setup=()
    for s in "$@"; do setup+=(-c "$s"); done
    psql_q -d "$DB_URL" "${setup[@]}" -c "$sql" -c "$sql" >/dev/null
    plan=$(psql_q -d "$DB_URL" -tA "${setup[@]}" -c "EXPLAIN (ANALYZE, BUFFERS) $sql" | grep -v '^\(SET\|PREPARE\)$' || true)
    # shellcheck disable=SC2034 # read by the caller
    EXPLAIN_MS=$(sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p' <<<"$plan")
    echo "--- $label: $(printf '%s' "${*:+$* ; }$sql" | tr -s ' \n' ' ' | cut -c 1-400)"
    echo "$plan"
}

# bench_running_instance PREFIX - a busybox instance on the local engine, created through
# the wizard's POST as the logged-in admin (ADMIN_JAR, CSRF): adds an image, a spec and a
# node, waits until it runs. Sets NAME, ID and CONTAINER. Needs TEST_IMAGE, DB_URL, WORK.
bench_running_instance() {
    local prefix=$1 img spec node res i phase status
    read -r img spec node < <(psql_q -d "$DB_URL" -tA -F ' ' -c "
        WITH i AS (INSERT INTO images (name, address, listed) VALUES ('busybox', '$TEST_IMAGE', true) RETURNING id),
             s AS (INSERT INTO specs (name, gpu_model, gpu_count, cpu_cores, memory_gb, system_disk_gb, data_disk_gb,
                                      price_per_hour_cents, listed)
                   VALUES ('bench', 'none', 0, 1, 1, 10, 0, 100, true) RETURNING id),
             n AS (INSERT INTO nodes (name, region, cpu_cores, memory_gb, system_disk_gb, data_disk_gb, public_ip,
                                      private_ip, gpu_model, gpu_count, docker_endpoint, use_tls, listed)
                   VALUES ('local', 'bench', 8, 16, 100, 100, '127.0.0.1', '127.0.0.1', 'none', 0,
                           'unix:///var/run/docker.sock', false, true) RETURNING id)
        SELECT i.id, s.id, n.id FROM i, s, n")
    NAME="$prefix-$(date +%s)-$$"
    res=$(curl -sS -b "$ADMIN_JAR" -o "$WORK/create.html" -w '%{http_code}' -H 'HX-Request: true' -H "X-CSRF-Token: $CSRF" \
        --data "image_id=$img&spec_id=$spec&node_id=$node&node_spec_id=$spec&name=$NAME&remark=bench" \
        "$BASE_URL/instances")
    [[ $res == 204 ]] || die "POST /instances: $res $(head -c 300 "$WORK/create.html")"
    for ((i = 0; i < 300; i++)); do
        IFS='|' read -r ID phase CONTAINER status < <(psql_q -d "$DB_URL" -tA -c \
            "SELECT id, phase, container_id, status FROM instances WHERE name = '$NAME'")
        [[ $phase == creating ]] || break
        sleep 0.1
    done
    [[ $phase == ready && $status == running ]] || die "instance not running: phase=$phase status=$status"
    log "instance $ID ($NAME) running in container ${CONTAINER:0:12}"
}

# bench_ref_sshd LISTEN [CONFIG_LINE...] - OpenSSH's sshd on LISTEN for root with a key of
# its own (host key, client key and config in $WORK), the reference the benches compare
# with; sets REF_PID and REF_SSH_BASE (the ssh options to reach it, no destination). The
# caller kills REF_PID.
bench_ref_sshd() {
    local listen=$1 line
    shift
    ssh-keygen -q -t ed25519 -N '' -f "$WORK/ref_host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$WORK/ref_client_key"
    cp "$WORK/ref_client_key.pub" "$WORK/ref_authorized_keys"
    cat >"$WORK/sshd_config" <<EOF
ListenAddress $listen
HostKey $WORK/ref_host_key
PidFile none
AuthorizedKeysFile $WORK/ref_authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
EOF
    for line in "$@"; do echo "$line" >>"$WORK/sshd_config"; done
    mkdir -p /run/sshd # its privilege separation directory
    "$(command -v sshd)" -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.log" &
    REF_PID=$!
    REF_SSH_BASE=(-i "$WORK/ref_client_key" -o StrictHostKeyChecking=no
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -o ConnectTimeout=10)
}
