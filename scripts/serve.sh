#!/usr/bin/env bash
# Run the server: installs what is missing (Debian packages, browser assets, a local
# Postgres cluster and database, the Docker engine), builds the release binary, then runs
# `suanli serve`. On its first start the panel registers that engine as the node `local`.
#
#   bash scripts/serve.sh [--no-docker] [--with-lxd] [suanli serve arguments…]
#
#   --no-docker  do not install or start Docker (a panel host without containers; its
#                nodes are other machines). Also SUANLI_NO_DOCKER=1.
#   --with-lxd   also install and start LXD with its dir pool and the lxdbr0 bridge, for
#                the ZJMF /api/ (魔方财务) side. Also SUANLI_WITH_LXD=1.
# Set SUANLI__DATABASE__URL to use another database.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SUANLI_ROOT"

no_docker=${SUANLI_NO_DOCKER:-0}
with_lxd=${SUANLI_WITH_LXD:-0}
args=()
for a in "$@"; do
    case $a in
        --no-docker) no_docker=1 ;;
        --with-lxd) with_lxd=1 ;;
        *) args+=("$a") ;;
    esac
done

ensure_apt postgresql libssl-dev pkg-config nodejs npm
ensure_assets
if [[ $no_docker != 1 ]]; then
    ensure_docker
else
    log "--no-docker: not installing or starting Docker; the local node is not registered"
    export SUANLI__DOCKER__LOCAL_NODE=false
fi
if [[ $with_lxd == 1 ]]; then
    ensure_lxd
fi

export SUANLI__DATABASE__URL=${SUANLI__DATABASE__URL:-postgres://postgres@127.0.0.1:5432/suanli}
url_re='^postgres(ql)?://postgres@(127\.0\.0\.1|localhost)(:([0-9]+))?/([A-Za-z0-9_]+)$'
if [[ $SUANLI__DATABASE__URL =~ $url_re ]]; then
    # Local database: our own cluster, unless some server already answers on that port.
    port=${BASH_REMATCH[4]:-5432}
    db=${BASH_REMATCH[5]}
    ensure_postgres "$port" /var/lib/suanli/pg
    ensure_database "$port" "$db"
else
    ensure_pg_tools
    pg_isready -q -d "$SUANLI__DATABASE__URL" || die "no database server answers at $SUANLI__DATABASE__URL"
fi

ensure_rust_build
exec "${CARGO_TARGET_DIR:-target}/release/suanli" serve "${args[@]}"
