# shellcheck shell=bash
# Shared set-up functions for scripts/serve.sh and scripts/test.sh (source, don't run).
# Every function is idempotent: it checks first and only does the missing work.
# The scripts expect root (as on the dev and CI machines): they install Debian packages
# and run Postgres as the `postgres` OS user.

SUANLI_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUANLI_CACHE_DIR=${SUANLI_CACHE_DIR:-/var/cache/suanli}
export SUANLI_CACHE_DIR
_SUANLI_APT_UPDATED=

log() { echo "[suanli] $*" >&2; }
die() { log "error: $*"; exit 1; }

# Run a noisy command with its output in $SUANLI_CACHE_DIR/NAME.log; show the tail on failure.
_quiet() {
    local name=$1; shift
    local out="$SUANLI_CACHE_DIR/$name.log"
    mkdir -p "$SUANLI_CACHE_DIR"
    if ! "$@" >"$out" 2>&1; then
        tail -n 30 "$out" >&2
        die "'$*' failed (full output: $out)"
    fi
}

# ensure_apt PKG... - install the Debian packages that are not installed yet.
ensure_apt() {
    local missing=() p
    for p in "$@"; do
        # NodeSource's nodejs package bundles npm and conflicts with Debian's npm package:
        # a working `node`/`npm` command counts as installed.
        if [[ $p == nodejs ]] && command -v node >/dev/null; then continue; fi
        if [[ $p == npm ]] && command -v npm >/dev/null; then continue; fi
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    ((${#missing[@]})) || return 0
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=600)
    if [[ -z $_SUANLI_APT_UPDATED ]]; then
        _quiet apt "${apt[@]}" update
        _SUANLI_APT_UPDATED=1
    fi
    _quiet apt "${apt[@]}" install --no-install-recommends "${missing[@]}"
}

# ensure_sshd_binary - OpenSSH's sshd (openssh-server) for the tests and benchmarks that
# start their own on a free port (a remote node's SSH, the reference sshd), WITHOUT the
# system service: the package would start an sshd on port 22, so a policy-rc.d refusing
# service starts is in place while it installs (one the host already has is kept).
ensure_sshd_binary() {
    [[ -x /usr/sbin/sshd ]] && return 0
    if [[ -e /usr/sbin/policy-rc.d ]]; then
        ensure_apt openssh-server
    else
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        ensure_apt openssh-server
        rm -f /usr/sbin/policy-rc.d
    fi
}

# ensure_assets - install the npm packages pinned in package-lock.json and copy the browser
# files the server needs into static/vendor/ (git-ignored).
# node_modules lives in $SUANLI_CACHE_DIR (shared by every clone on the machine); npm runs
# there on copies of package.json/package-lock.json, because `npm ci` replaces a
# node_modules symlink by a real directory. ./node_modules is a symlink to it for editors.
ensure_assets() {
    local cache=$SUANLI_CACHE_DIR nm="$SUANLI_CACHE_DIR/node_modules"
    local stamp="$nm/.suanli-installed"
    mkdir -p "$cache"
    (
        flock 9 # one npm at a time per cache dir
        if ! cat "$SUANLI_ROOT/package.json" "$SUANLI_ROOT/package-lock.json" | cmp -s - "$stamp"; then
            log "installing npm packages into $nm"
            cp "$SUANLI_ROOT/package.json" "$SUANLI_ROOT/package-lock.json" "$cache/"
            (cd "$cache" && _quiet npm npm ci --no-audit --no-fund)
            cat "$SUANLI_ROOT/package.json" "$SUANLI_ROOT/package-lock.json" >"$stamp"
        fi
    ) 9>"$cache/.npm.lock"
    if [[ $(readlink "$SUANLI_ROOT/node_modules" || true) != "$nm" ]]; then
        rm -rf "$SUANLI_ROOT/node_modules"
        ln -s "$nm" "$SUANLI_ROOT/node_modules"
    fi

    local vendor="$SUANLI_ROOT/static/vendor" src
    mkdir -p "$vendor"
    for src in \
        htmx.org/dist/htmx.min.js \
        @xterm/xterm/lib/xterm.js \
        @xterm/xterm/css/xterm.css \
        @xterm/addon-fit/lib/addon-fit.js \
        uplot/dist/uPlot.iife.min.js \
        uplot/dist/uPlot.min.css; do
        # Copy only on change: keeps mtimes stable for anything that embeds these at build time.
        cmp -s "$nm/$src" "$vendor/${src##*/}" || cp "$nm/$src" "$vendor/${src##*/}"
    done
}

# ensure_pg_tools - install Postgres if needed and put its binaries first in PATH.
ensure_pg_tools() {
    ensure_apt postgresql # also creates the `postgres` OS user
    local bin
    bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    case ":$PATH:" in *":$bin:"*) ;; *) export PATH="$bin:$PATH" ;; esac
}

_as_postgres() { runuser -u postgres -- "$@"; }

# Remove a postmaster.pid or socket .lock file whose PID is no longer a live postgres
# process (left by a killed server; with a reused PID, postgres would refuse to start).
# A killed postmaster can stay a zombie for a while (PID 1 here is slow to reap): not live.
_drop_stale_pid_file() {
    local f=$1 pid
    [[ -f $f ]] || return 0
    pid=$(head -n 1 "$f" 2>/dev/null || true)
    pid=${pid#-}
    if [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null || true) == postgres ]] &&
        ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$pid/status" 2>/dev/null; then
        return 0
    fi
    log "removing stale $f"
    rm -f "$f"
}

# ensure_postgres PORT DATA_DIR [fast] - make sure a Postgres server answers on
# 127.0.0.1:PORT, else start (and if needed create) a private cluster in DATA_DIR,
# superuser `postgres`, trust auth, socket in /tmp. `fast` turns durability off (tests only).
ensure_postgres() {
    local port=$1 data=$2 mode=${3:-}
    ensure_pg_tools
    pg_isready -q -h 127.0.0.1 -p "$port" && return 0

    if [[ ! -f $data/PG_VERSION ]]; then
        if [[ -d $data && -n $(ls -A "$data") ]]; then
            die "$data is not empty but holds no Postgres cluster; remove it or pick another directory"
        fi
        log "creating Postgres cluster in $data"
        mkdir -p "$data"
        chown postgres:postgres "$data"
        chmod 700 "$data"
        _quiet initdb _as_postgres initdb -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8
    fi

    # A server of this cluster that runs but does not answer on our port/address: restart it.
    _drop_stale_pid_file "$data/postmaster.pid"
    if [[ -f $data/postmaster.pid ]]; then
        log "restarting the Postgres server of $data"
        _as_postgres pg_ctl -D "$data" -m fast -w stop >/dev/null
    fi
    _drop_stale_pid_file "/tmp/.s.PGSQL.$port.lock"

    local opts="-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300"
    if [[ $mode == fast ]]; then
        opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    local logfile
    logfile="$(dirname "$data")/postgres.log"
    touch "$logfile"
    chown postgres:postgres "$logfile"
    log "starting Postgres on 127.0.0.1:$port (data $data, log $logfile)"
    if ! _as_postgres pg_ctl -D "$data" -l "$logfile" -o "$opts" -w start >/dev/null; then
        tail -n 20 "$logfile" >&2
        die "Postgres did not start"
    fi
}

# ensure_database PORT NAME - create the database on the local server if it is missing.
ensure_database() {
    local port=$1 db=$2
    local exists
    exists=$(psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
        "select 1 from pg_database where datname='$db'")
    if [[ -z $exists ]]; then
        log "creating database $db"
        createdb -h 127.0.0.1 -p "$port" -U postgres "$db"
    fi
}

# ensure_cargo - put rustup's cargo in PATH if it is not there already.
ensure_cargo() {
    if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null || die "cargo not found: install Rust with rustup"
}

# ensure_rust_build - release build of the server (cargo is incremental on its own).
ensure_rust_build() {
    ensure_cargo
    log "building (cargo build --release)"
    (cd "$SUANLI_ROOT" && cargo build --release)
}

# ensure_docker - install docker.io if needed and make sure the local engine answers on
# /var/run/docker.sock (starts `dockerd` in the background, log in $SUANLI_CACHE_DIR).
ensure_docker() {
    ensure_apt docker.io
    if docker info >/dev/null 2>&1; then
        # A daemon whose default bridge was removed (e.g. by another dockerd sharing the
        # host) cannot start containers: restart it so it recreates docker0.
        ip link show docker0 >/dev/null 2>&1 && return 0
        log "docker0 is missing: restarting dockerd"
        kill "$(cat /var/run/docker.pid)" 2>/dev/null || true
        local j
        for ((j = 0; j < 40; j++)); do docker info >/dev/null 2>&1 || break; sleep 0.5; done
    fi
    local logfile="$SUANLI_CACHE_DIR/dockerd.log"
    mkdir -p "$SUANLI_CACHE_DIR"
    # A dockerd killed without cleanup leaves its pid file behind and refuses to start.
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    if [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null || true) != dockerd ]]; then
        rm -f /var/run/docker.pid
    fi
    log "starting dockerd (log $logfile)"
    setsid dockerd >"$logfile" 2>&1 </dev/null &
    local i
    for ((i = 0; i < 60; i++)); do
        docker info >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    tail -n 20 "$logfile" >&2
    die "dockerd did not answer within 30 s"
}

# ensure_test_image NAME [PROGRAM...] - a tiny image built from Debian's busybox-static (no
# registry can be pulled from): /bin/busybox, its applets as symlinks, a /bin/bash-less shell,
# and the host's PROGRAMs (absolute paths) with their shared libraries.
ensure_test_image() {
    local name=$1
    shift
    docker image inspect "$name" >/dev/null 2>&1 && return 0
    ensure_apt busybox-static
    local root
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp" "$root/data" "$root/etc" "$root/root"
    cp /bin/busybox "$root/bin/busybox"
    local applet
    for applet in $("$root/bin/busybox" --list); do
        [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
    done
    # more programs (the host's), with the shared libraries they load
    local program lib
    for program in "$@"; do
        cp --parents "$program" "$root"
        for lib in $(ldd "$program" | grep -o '/[^ ]*'); do
            cp -L --parents "$lib" "$root"
        done
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    echo 'root:x:0:' >"$root/etc/group"
    log "building test image $name"
    tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh", "-c", "trap \"exit 0\" TERM; while :; do sleep 1; done"]' \
        -c 'ENV PATH=/bin:/usr/bin' - "$name" >/dev/null
    rm -rf "$root"
}

# ensure_docker_registry - Debian's docker-registry, which the tests run themselves as
# their own process (loopback port, temporary storage; tests/api/recovery/registry.rs).
# Where an init system lets it, the package also starts a system registry on :5000 (every
# address): that one is stopped and kept from starting at boot. Only the instance the init
# script started (its pid file) is touched; running it again changes nothing.
ensure_docker_registry() {
    ensure_apt docker-registry
    if [[ -x /etc/init.d/docker-registry ]] && /etc/init.d/docker-registry status >/dev/null 2>&1; then
        log "stopping the system docker-registry on :5000 (the tests run their own)"
        /etc/init.d/docker-registry stop >/dev/null 2>&1 || true
    fi
    update-rc.d docker-registry disable >/dev/null 2>&1 || true
}

# remove_nat_chains PREFIX [WHAT] - Suanli's iptables chains whose prefix matches PREFIX
# (an ERE: one name, or a pattern) and the jumps into them, as Suanli writes them
# (PREFIX-NAT/-FWD/-POST and the shards PREFIX-N<k>, jumped to with its `suanli`
# comment); says how many it removed of WHAT when it removed any.
remove_nat_chains() {
    local prefix="$1" what=${2:-} table line chain n=0
    local -a rule chains
    for table in nat filter; do
        while read -r line; do
            read -ra rule <<<"${line/#-A /-D }"
            iptables -w -t "$table" "${rule[@]}" && n=$((n + 1))
        done < <(iptables-save -t "$table" | grep -E "^-A [A-Z-]+ -m comment --comment suanli -j ($prefix)-(NAT|FWD|POST)\$" || true)
        mapfile -t chains < <(iptables-save -t "$table" | sed -n -E "s/^:(($prefix)-(NAT|FWD|POST|N[0-9]+)) .*/\1/p")
        # the main chains jump into the shards: empty them all before deleting any
        for chain in "${chains[@]}"; do iptables -w -t "$table" -F "$chain" || true; done
        for chain in "${chains[@]}"; do iptables -w -t "$table" -X "$chain" && n=$((n + 1)); done
    done
    ((n == 0)) || [[ -z $what ]] || log "removed $n iptables jumps and chains $what"
}

# clear_test_chains - the chains of earlier test runs: each test app has its own
# (T<10 hex>-…) and removes them when it ends, but a killed run cannot, and a background
# re-apply can race an app's end.
clear_test_chains() {
    remove_nat_chains 'T[0-9a-f]{10}' "left by earlier test runs"
}

# ensure_lxd - install Debian's lxd if needed, make sure its daemon answers (started in the
# background: there is no systemd; log in $SUANLI_CACHE_DIR/lxd.log) and give it what
# `lxd init` would, each piece only if missing: a dir storage pool `default`, a NAT bridge
# lxdbr0 on 10.99.0.1/24 without IPv6, and the default profile's root disk and eth0 nic.
# A daemon that is already configured keeps its config.
ensure_lxd() {
    # dnsmasq-base is only a Recommends of lxd, but a managed bridge needs it for DHCP.
    ensure_apt lxd dnsmasq-base
    mkdir -p "$SUANLI_CACHE_DIR"
    (
        flock 9 # clones on the same machine share one daemon
        if ! lxc info >/dev/null 2>&1; then
            local logfile="$SUANLI_CACHE_DIR/lxd.log"
            log "starting lxd (log $logfile)"
            # 9>&-: the daemon must not inherit (and hold forever) the lock.
            setsid lxd --group root >"$logfile" 2>&1 </dev/null 9>&- &
            if ! lxd waitready --timeout=60; then
                tail -n 20 "$logfile" >&2
                die "lxd did not answer within 60 s"
            fi
        fi
        if ! lxc storage show default >/dev/null 2>&1; then
            log "creating the LXD storage pool default (dir)"
            _quiet lxd-setup lxc storage create default dir
        fi
        # `lxc network show` also answers for host interfaces: only a managed lxdbr0 counts.
        if ! lxc network list --format csv | grep -q '^lxdbr0,bridge,YES,'; then
            log "creating the LXD bridge lxdbr0 (10.99.0.1/24, NAT)"
            _quiet lxd-setup lxc network create lxdbr0 \
                ipv4.address=10.99.0.1/24 ipv4.nat=true ipv6.address=none
        fi
        local devices
        devices=$(lxc profile device list default)
        if ! grep -qx root <<<"$devices"; then
            _quiet lxd-setup lxc profile device add default root disk path=/ pool=default
        fi
        if ! grep -qx eth0 <<<"$devices"; then
            _quiet lxd-setup lxc profile device add default eth0 nic network=lxdbr0 name=eth0
        fi
    ) 9>"$SUANLI_CACHE_DIR/.lxd.lock"
}

# ensure_lxd_test_image ALIAS - an LXD container image built from Debian's busybox-static
# (no image server is reachable): an init script that takes eth0 up by DHCP (udhcpc) and
# stops cleanly on SIGPWR, and a chpasswd script (Debian's busybox has none).
# The tarball is cached in $SUANLI_CACHE_DIR/lxd-images/, named after a hash of this recipe
# and the busybox version: editing the recipe rebuilds it, and an imported image whose
# fingerprint (the tarball's sha256) differs is replaced.
ensure_lxd_test_image() {
    _ensure_lxd_busybox_image "$1" busybox-lxd _lxd_busybox_image
}

# ensure_lxd_slow_test_image ALIAS - the LXD test image made slow to create, for the tests
# that kill the server in the middle of a ZJMF create (tests/api/recovery/): 4000 empty
# files that LXD unpacks in its create operation (a second or more; much longer on a busy
# disk), and an init that waits 8 s before asking for an address, so a create through the
# API lasts longer than 8 s. Cached and imported like the test image.
ensure_lxd_slow_test_image() {
    _ensure_lxd_busybox_image "$1" slow-busybox-lxd _lxd_slow_image
}

# _ensure_lxd_busybox_image ALIAS NAME BUILDER - a busybox-static image made by BUILDER,
# cached under NAME with a tag hashed from its recipe and the busybox version.
_ensure_lxd_busybox_image() {
    ensure_apt busybox-static
    local tag
    tag=$({
        declare -f "$3" _lxd_test_rootfs _lxd_image_pack
        dpkg-query -W -f='${Version}' busybox-static
    } | sha256sum | cut -c1-12)
    _lxd_cached_image "$1" "$2" "$tag" "$3"
}

# _lxd_slow_image BUILD TARBALL TAG - the slow test image (see above) into TARBALL.
_lxd_slow_image() {
    log "building the slow LXD test image tarball $2"
    local root=$1/rootfs d
    _lxd_test_rootfs "$root"
    sed -i 's/^    udhcpc -f -i eth0/    sleep 8 \&\& udhcpc -f -i eth0/' "$root/sbin/init"
    grep -q '^    sleep 8 && udhcpc' "$root/sbin/init" || die "the slow image's init was not patched"
    for d in 0 1 2 3; do
        mkdir -p "$root/pad/$d"
        (cd "$root/pad/$d" && seq 1 1000 | xargs touch)
    done
    _lxd_image_pack "$1" "$2" busybox slow "Suanli slow test image (busybox-static, 4000 files, DHCP after 8 s)"
}

# _lxd_busybox_image BUILD TARBALL TAG - the test image (see above) into TARBALL.
_lxd_busybox_image() {
    log "building the LXD test image tarball $2"
    _lxd_test_rootfs "$1/rootfs"
    _lxd_image_pack "$1" "$2" busybox "$3" \
        "Suanli test image (busybox-static $(dpkg-query -W -f='${Version}' busybox-static))"
}

# _lxd_test_rootfs DIR - the root file system of the LXD test image (see above).
_lxd_test_rootfs() {
    local root=$1 applet
    mkdir -p "$root"/{bin,sbin,usr/sbin,usr/bin,usr/share/udhcpc,etc,root,tmp,run,var,dev,proc,sys}
    chmod 1777 "$root/tmp"
    chmod 700 "$root/root"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
        [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    echo 'root:x:0:' >"$root/etc/group"
    echo 'root:*:19000:0:99999:7:::' >"$root/etc/shadow"
    chmod 600 "$root/etc/shadow"
    printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
    : >"$root/etc/resolv.conf"

    cat >"$root/sbin/init" <<'INIT'
#!/bin/sh
# PID 1 of the Suanli LXD test image. LXD asks for a clean stop with SIGPWR to PID 1;
# PID 1 ignores every signal it has no handler for, so trap it (and TERM/INT alike).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
halt_now() {
    kill -TERM -1 2>/dev/null
    sync
    poweroff -f
    exit 0
}
trap halt_now PWR TERM INT
# LXD mounts proc, sys and a /dev of its own; mount them only if missing.
[ -e /proc/self ] || mount -t proc proc /proc
[ -d /sys/class ] || mount -t sysfs sysfs /sys
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
    ip link set eth0 up
    # Foreground mode in a background job: init reaches its wait loop (and its traps) at
    # once; udhcpc keeps running to renew the lease.
    udhcpc -f -i eth0 -t 10 -T 1 -A 2 -s /usr/share/udhcpc/default.script \
        -x hostname:"$(hostname)" &
fi
# `wait` returns on a trapped signal; a foreground sleep would delay the trap.
while :; do
    sleep 3600 &
    wait $!
done
INIT

    cat >"$root/usr/share/udhcpc/default.script" <<'DHCP'
#!/bin/sh
# udhcpc event script: applies the lease to $interface (address, default route, DNS).
case $1 in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound | renew)
    if ! ip -4 addr show dev "$interface" | grep -q "inet $ip/"; then
        ip -4 addr flush dev "$interface"
        ifconfig "$interface" "$ip" ${subnet:+netmask "$subnet"} ${broadcast:+broadcast "$broadcast"}
    fi
    for r in $router; do
        ip route replace default via "$r" dev "$interface" && break
    done
    {
        [ -n "$domain" ] && echo "search $domain"
        for d in $dns; do echo "nameserver $d"; done
    } >/etc/resolv.conf.new
    mv /etc/resolv.conf.new /etc/resolv.conf
    ;;
esac
exit 0
DHCP

    cat >"$root/usr/sbin/chpasswd" <<'CHPASSWD'
#!/bin/sh
# chpasswd for the Suanli LXD test image (Debian's busybox has no such applet): reads
# user:password lines on stdin and stores each password's SHA-512 crypt hash in /etc/shadow.
umask 077
status=0
today=$(($(date +%s) / 86400))
while IFS= read -r line || [ -n "$line" ]; do
    user=${line%%:*}
    pass=${line#*:}
    if [ -z "$user" ] || [ "$user" = "$line" ]; then
        echo "chpasswd: line without user:password" >&2
        status=1
        continue
    fi
    if ! awk -F: -v u="$user" '$1 == u { found = 1 } END { exit !found }' /etc/shadow; then
        echo "chpasswd: user '$user' does not exist" >&2
        status=1
        continue
    fi
    # The password goes through stdin, not the command line (visible in ps).
    if ! hash=$(printf '%s\n' "$pass" | mkpasswd -m sha512) || [ -z "$hash" ]; then
        echo "chpasswd: cannot hash the password of '$user'" >&2
        status=1
        continue
    fi
    awk -F: -v OFS=: -v u="$user" -v h="$hash" -v d="$today" \
        '$1 == u { $2 = h; $3 = d } { print }' /etc/shadow >/etc/shadow.new &&
        mv /etc/shadow.new /etc/shadow || status=1
done
exit $status
CHPASSWD
    chmod 755 "$root/sbin/init" "$root/usr/share/udhcpc/default.script" "$root/usr/sbin/chpasswd"
}

# ensure_lxd_debian_image ALIAS - a Debian 12 LXD image close to what operators run (for
# the ZJMF benchmark, not the tests): `debootstrap --variant=minbase` with systemd,
# openssh-server, chpasswd (passwd), ifupdown and isc-dhcp-client bringing eth0 up by DHCP
# (no udev in a container: systemd-networkd would wait for it forever). Host keys are made
# at the first boot of each container. The tarball is built once from the Debian mirror
# apt uses and cached in $SUANLI_CACHE_DIR/lxd-images/ (named after a hash of this recipe);
# imported under ALIAS when LXD lacks it.
ensure_lxd_debian_image() {
    ensure_apt debootstrap
    local tag
    tag=$(declare -f _lxd_debian_image _lxd_image_pack | sha256sum | cut -c1-12)
    _lxd_cached_image "$1" debian12-lxd "$tag" _lxd_debian_image
}

# _lxd_debian_image BUILD TARBALL TAG - the Debian image (see above) into TARBALL.
_lxd_debian_image() {
    local mirror
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
    mirror=${mirror:-http://deb.debian.org/debian}
    log "building the Debian 12 LXD image $2 (debootstrap from $mirror, a few minutes)"
    _quiet lxd-image debootstrap --variant=minbase \
        --include=systemd,systemd-sysv,dbus,openssh-server,passwd,iproute2,ifupdown,isc-dhcp-client \
        bookworm "$1/rootfs" "$mirror"
    local root=$1/rootfs
    echo debian >"$root/etc/hostname"
    printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' \
        >"$root/etc/network/interfaces"
    # no console getty in a container
    chroot "$root" systemctl mask getty@tty1.service console-getty.service >/dev/null 2>&1 || true
    rm -f "$root"/etc/ssh/ssh_host_*key* # made per container at first boot
    mkdir -p "$root/etc/systemd/system/ssh.service.d"
    printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
        >"$root/etc/systemd/system/ssh.service.d/hostkeys.conf"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    : >"$root/etc/machine-id"
    _lxd_image_pack "$1" "$2" debian bookworm \
        "Debian 12 minbase (systemd, openssh-server), Suanli bench image"
}

# _lxd_cached_image ALIAS KIND TAG BUILDER - the image tarball KIND-TAG.tar.gz, cached in
# $SUANLI_CACHE_DIR/lxd-images/ (TAG: a hash of its recipe, so editing the recipe builds it
# again and older KIND tarballs go), built when missing by `BUILDER DIR TARBALL TAG` (DIR:
# an empty directory for the rootfs), then imported under ALIAS; one caller at a time.
_lxd_cached_image() {
    local alias=$1 kind=$2 tag=$3 builder=$4
    local dir="$SUANLI_CACHE_DIR/lxd-images"
    local tarball="$dir/$kind-$tag.tar.gz"
    mkdir -p "$dir"
    (
        flock 9
        if [[ ! -f $tarball ]]; then
            rm -f "$dir/$kind"-*.tar.gz
            "$builder" "$(mktemp -d)" "$tarball" "$tag"
        fi
        _lxd_image_import "$tarball" "$alias"
    ) 9>"$dir/.lock"
}

# _lxd_image_pack BUILD TARBALL OS RELEASE DESCRIPTION - BUILD/rootfs and its metadata.yaml
# into one unified image tarball (written under a temporary name, then moved); BUILD goes.
_lxd_image_pack() {
    local build=$1 tarball=$2
    cat >"$build/metadata.yaml" <<META
architecture: x86_64
creation_date: $(date +%s)
properties:
  description: $5
  os: $3
  release: "$4"
META
    tar -C "$build" --numeric-owner -czf "$tarball.tmp" metadata.yaml rootfs
    mv "$tarball.tmp" "$tarball"
    rm -rf "$build"
}

# _lxd_image_import TARBALL ALIAS - ALIAS names this tarball's image in LXD: nothing to do
# when it does (the fingerprint is the tarball's sha256), an outdated image under ALIAS is
# replaced, and a tarball imported before without the alias only gets it back.
_lxd_image_import() {
    local tarball=$1 alias=$2 want have
    want=$(sha256sum "$tarball" | cut -d' ' -f1)
    have=$({ lxc image info "$alias" 2>/dev/null || true; } | sed -n 's/^Fingerprint: //p')
    [[ $have == "$want" ]] && return 0
    if [[ -n $have ]]; then
        log "replacing the outdated LXD image $alias"
        _quiet lxd-image lxc image delete "$alias"
    fi
    if lxc image info "$want" >/dev/null 2>&1; then
        _quiet lxd-image lxc image alias create "$alias" "$want"
    else
        log "importing the LXD image $alias"
        _quiet lxd-image lxc image import "$tarball" --alias "$alias"
    fi
}
