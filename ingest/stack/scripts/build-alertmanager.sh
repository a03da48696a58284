#!/usr/bin/env bash
# Build Prometheus Alertmanager from its Go module and cache it.
#   usage: build-alertmanager.sh VERSION CACHE_DIR     -> prints the path of the binary
# The binary is cached at CACHE_DIR/alertmanager-VERSION/alertmanager; a second call only prints
# it. Everything comes from the Go module proxy and the npm registry, nothing else.
#
# `go install .../cmd/alertmanager@VERSION` cannot work: the module embeds ui/app/dist
# (go:embed), which its release process builds and the module zip leaves out. So this builds a
# writable copy of the module with ui/app/dist filled in:
#   dist/mantine  the React UI served at /ui/, built from ui/mantine-ui with npm when its
#                 dependencies install; else a one-page placeholder (the API works either way);
#   dist/elm      the classic UI at / needs the Elm compiler, a binary download we cannot make:
#                 a small page pointing to /ui/ instead.
# The UI server only serves pre-compressed html/js/css (NAME.gz, NAME.br), hence page() below.
set -euo pipefail
VERSION="${1:?alertmanager version, e.g. v0.35.0}"
CACHE="${2:?cache dir}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=go-module-build.sh
. "$HERE/go-module-build.sh"

go_build_cached alertmanager "$VERSION" "$CACHE"
go_module_copy github.com/prometheus/alertmanager "$VERSION"
DIST="ui/app/dist"
mkdir -p "$DIST/elm" "$DIST/mantine"

page() {  # page DIR TITLE BODY-HTML: index.html, pre-compressed as .gz and .br
  printf '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>%s</title></head>\n<body style="font-family:sans-serif;margin:2em">%s</body></html>\n' \
    "$2" "$3" >"$1/index.html"
  # A browser asks for br first and the server answers 404 if there is no .br: write the page
  # as one uncompressed brotli meta-block (RFC 7932: 3 header bytes, the data, an empty last
  # block), which needs no brotli encoder.
  python3 - "$1/index.html" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
assert 0 < len(data) <= 1 << 16
header = ((len(data) - 1) << 4) | (1 << 20)  # WBITS=16, MNIBBLES=4, MLEN-1, ISUNCOMPRESSED
open(sys.argv[1] + ".br", "wb").write(header.to_bytes(3, "little") + data + b"\x03")
PY
  gzip -9 -n -f "$1/index.html"
}

page "$DIST/elm" "Alertmanager" \
  '<h1>Alertmanager</h1><p>This build has no classic UI. Open <a href="ui/">the UI at /ui/</a>; the API is at <a href="api/v2/status">/api/v2/</a>.</p>'

UI_STATUS="placeholder"
if [ "${ALERTMANAGER_UI:-build}" = "build" ] && command -v npm >/dev/null; then
  echo "== building the React UI (ui/mantine-ui) with npm"
  # The module's package-lock.json pins a version the registry no longer serves
  # (@mantine/code-highlight 9.7.3), so `npm ci` fails: resolve the package.json ranges instead.
  if (cd ui/mantine-ui && rm -f package-lock.json \
      && npm install --no-audit --no-fund --no-package-lock \
      && npm run build); then
    UI_STATUS="built"
  else
    echo "== the React UI did not build; a placeholder takes its place"
  fi
fi
if [ "$UI_STATUS" = "placeholder" ]; then
  rm -rf "$DIST/mantine" && mkdir -p "$DIST/mantine"
  page "$DIST/mantine" "Alertmanager" \
    '<h1>Alertmanager</h1><p>The web UI could not be built on this machine (see the stack build log). Use the API: <a href="../api/v2/alerts">/api/v2/alerts</a>, <a href="../api/v2/silences">/api/v2/silences</a>, or amtool.</p>'
fi
echo "ui: $UI_STATUS" >"$OUT/ui-status"

go_build_binary alertmanager ./cmd/alertmanager -ldflags "-s -w \
  -X github.com/prometheus/common/version.Version=${VERSION#v} \
  -X github.com/prometheus/common/version.Branch=HEAD \
  -X github.com/prometheus/common/version.BuildUser=vitalstream"
