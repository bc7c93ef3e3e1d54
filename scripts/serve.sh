#!/usr/bin/env bash
# Run the server: installs what is missing (Debian packages, browser assets, a local
# Postgres cluster and database), builds the release binary, then runs `suanli serve`.
# Extra arguments go to `suanli serve`. Set SUANLI__DATABASE__URL to use another database.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SUANLI_ROOT"

ensure_apt postgresql libssl-dev pkg-config nodejs npm
ensure_assets

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
exec "${CARGO_TARGET_DIR:-target}/release/suanli" serve "$@"
