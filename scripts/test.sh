#!/usr/bin/env bash
# Run the whole test suite: installs what is missing (Debian packages incl. headless
# Chromium, browser assets, a throw-away Postgres cluster on port 55432, the Docker engine,
# LXD with a dir pool and the lxdbr0 bridge, tiny busybox test images for both (one with rsync and scp for Docker) (and a slow
# one for LXD), Debian's docker-registry for the tests to run themselves), then cargo test.
# The test Postgres, dockerd and lxd keep running afterwards; the next run reuses them.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SUANLI_ROOT"
start=$(date +%s)

ensure_apt postgresql libssl-dev pkg-config nodejs npm chromium chromium-driver docker.io busybox-static openssh-client docker-registry rsync
ensure_sshd_binary # tests/api/forward.rs: a local sshd stands in for a remote node's SSH
ensure_assets
ensure_postgres 55432 "$SUANLI_CACHE_DIR/test-pg" fast
ensure_docker
ensure_test_image suanli-test/busybox:1
# with rsync and scp: the legacy scp protocol and rsync through the jumpbox's exec
ensure_test_image suanli-test/tools:1 /usr/bin/rsync /usr/bin/scp
ensure_docker_registry
ensure_lxd
ensure_lxd_test_image suanli-test/busybox-lxd
ensure_lxd_slow_test_image suanli-test/busybox-lxd-slow
clear_test_chains
ensure_cargo

# The tests create (and drop) their own databases on this server.
export SUANLI_TEST_PG=postgres://postgres@127.0.0.1:55432
# Build outside the clone so that a fresh CI checkout still builds incrementally.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$SUANLI_CACHE_DIR/target}

log "checking formatting (cargo fmt --check)"
cargo fmt --check || die "cargo fmt --check failed: run cargo fmt"

# the lints of Cargo.toml ([lints.clippy]: no unwrap/expect in src/) and clippy's
# defaults, enforced on every target
log "linting (cargo clippy --all-targets -- -D warnings)"
cargo clippy --all-targets -- -D warnings || die "cargo clippy found warnings: fix them"

log "running cargo test (target dir $CARGO_TARGET_DIR)"
status=0
cargo test --all-targets -- --test-threads=4 2>&1 || status=$?

if ((status == 0)); then result=passed; else result="FAILED (exit $status)"; fi
log "tests $result, took $(($(date +%s) - start)) s"
exit "$status"
