#!/usr/bin/env bash
# Build Telegraf from its Go module with only the plugins the e2e benchmark uses, and cache it.
#   usage: build-telegraf.sh VERSION CACHE_DIR     -> prints the path of the binary
# The binary is cached at CACHE_DIR/telegraf-VERSION/telegraf; a second call only prints it.
# Plugins (Telegraf's docs/CUSTOMIZATION.md, `custom` build tag): the kafka_consumer input, the
# json_v2 parser and the influxdb_v2 output, nothing else.
set -euo pipefail
VERSION="${1:?telegraf version, e.g. v1.37.2}"
CACHE="${2:?cache dir}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../ingest/stack/scripts/go-module-build.sh
. "$HERE/../ingest/stack/scripts/go-module-build.sh"

go_build_cached telegraf "$VERSION" "$CACHE"
# telegraf's go.mod has replace directives: build its main package in a copy of the module
go_module_copy github.com/influxdata/telegraf "$VERSION"
go_build_binary telegraf ./cmd/telegraf \
  -tags "custom,inputs.kafka_consumer,parsers.json_v2,outputs.influxdb_v2" -ldflags "-s -w"
