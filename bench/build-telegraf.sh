#!/usr/bin/env bash
# Build Telegraf from its Go module with only the plugins the e2e benchmark uses, and cache it.
#   usage: build-telegraf.sh VERSION CACHE_DIR     -> prints the path of the binary
# The binary is cached at CACHE_DIR/telegraf-VERSION/telegraf; a second call only prints it.
# Plugins (Telegraf's docs/CUSTOMIZATION.md, `custom` build tag): the kafka_consumer input, the
# json_v2 parser and the influxdb_v2 output, nothing else.
set -euo pipefail
VERSION="${1:?telegraf version, e.g. v1.37.2}"
CACHE="${2:?cache dir}"
OUT="$CACHE/telegraf-$VERSION"
if [ -x "$OUT/telegraf" ]; then echo "$OUT/telegraf"; exit 0; fi
mkdir -p "$OUT"

export GOTOOLCHAIN=local        # never download another Go toolchain
export CGO_ENABLED=0
export GOFLAGS="-mod=mod"

# telegraf's go.mod has replace directives, so `go install pkg@version` refuses: download the
# module and build its main package in a writable copy of the source.
DIR="$(go mod download -json "github.com/influxdata/telegraf@$VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
[ -d "$DIR" ] || { echo "build-telegraf: go mod download gave no source dir" >&2; exit 1; }
B="$(mktemp -d)"
trap 'chmod -R u+w "$B"; rm -rf "$B"' EXIT
cp -r "$DIR/." "$B/"
chmod -R u+w "$B"
cd "$B"
go build -trimpath -tags "custom,inputs.kafka_consumer,parsers.json_v2,outputs.influxdb_v2" \
  -ldflags "-s -w" -o "$OUT/telegraf.tmp" ./cmd/telegraf
mv "$OUT/telegraf.tmp" "$OUT/telegraf"
echo "$OUT/telegraf"
