#!/usr/bin/env bash
# Screenshots of the browser pages for a person to review: starts what the browser tests
# need (Postgres, dockerd, Chromium; as scripts/test.sh does), runs the suite's screenshot
# tests (each spawns a throw-away server with its own fixture: roles, companies, catalog,
# an instance on the local engine) and gathers their PNGs, every page in zh-CN and English
# at 1440 and 390 px wide, into one folder with an index.html that shows them side by side.
#
#   bash scripts/screenshots.sh [OUT_DIR]     (default: ./screenshots, not committed)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out=$(realpath -m "${1:-screenshots}")
ensure_apt postgresql libssl-dev pkg-config nodejs npm chromium chromium-driver docker.io busybox-static fonts-noto-cjk
ensure_assets
ensure_postgres 55432 "$SUANLI_CACHE_DIR/test-pg" fast
ensure_docker
ensure_test_image suanli-test/busybox:1
ensure_cargo
export SUANLI_TEST_PG=${SUANLI_TEST_PG:-postgres://postgres@127.0.0.1:55432}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$SUANLI_CACHE_DIR/target}

rm -rf /tmp/shots-lists /tmp/shots-pages
log "taking the screenshots (cargo test --test api -- --ignored screenshots_)"
cargo test --test api -- --ignored --test-threads=1 screenshots_

mkdir -p "$out"
rm -f "$out"/*.png
for dir in /tmp/shots-lists /tmp/shots-pages; do
  for f in "$dir"/*.png; do
    [[ -e $f ]] && cp "$f" "$out/$(basename "$dir" | sed 's/^shots-//')-$(basename "$f")"
  done
done
{
  echo '<!doctype html><meta charset="utf-8"><title>Suanli screenshots</title>'
  echo '<style>body{font:14px sans-serif;margin:16px}figure{display:inline-block;vertical-align:top;margin:0 12px 24px 0}'
  echo 'img{border:1px solid #ccc;max-width:720px}figcaption{margin-top:4px}</style>'
  echo "<h1>Suanli screenshots ($(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --short HEAD 2>/dev/null || echo unknown))</h1>"
  for f in $(cd "$out" && ls ./*.png | sed 's|^\./||' | sort); do
    echo "<figure><a href=\"$f\"><img src=\"$f\" loading=\"lazy\"></a><figcaption>$f</figcaption></figure>"
  done
} > "$out/index.html"
log "$(ls "$out"/*.png | wc -l) screenshots in $out/index.html"
