#!/usr/bin/env bash
# Build influxd from its Go module (plus libflux from the Rust crate registry) and cache it.
#   usage: build-influxd.sh VERSION CACHE_DIR     -> prints the path of the binary
# The binary is cached at CACHE_DIR/influxd-VERSION/influxd; a second call only prints it.
set -euo pipefail
VERSION="${1:?influxdb version, e.g. v2.7.12}"
CACHE="${2:?cache dir}"
PKGCFG_VERSION="v0.2.14"   # the influxdata/pkg-config that influxdb v2.7.x pins in go.mod
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=go-module-build.sh
. "$HERE/go-module-build.sh"

go_build_cached influxd "$VERSION" "$CACHE"
mkdir -p "$CACHE/gobin"
export CGO_ENABLED=1            # sqlite3 and libflux are cgo
export GOBIN="$CACHE/gobin"
command -v pkg-config >/dev/null || { echo "build-influxd: Debian's pkg-config is required" >&2; exit 1; }
command -v cargo >/dev/null || { echo "build-influxd: cargo (rustup) is required for libflux" >&2; exit 1; }

# InfluxData's pkg-config wrapper answers `pkg-config flux` by running cargo on libflux.
go install "github.com/influxdata/pkg-config@$PKGCFG_VERSION"
export PKG_CONFIG="$GOBIN/pkg-config"
export PKG_CONFIG_LOG="$OUT/pkg-config.log"
# flux pins an old toolchain in rust-toolchain.toml; rustup would try to download it.
export RUSTUP_TOOLCHAIN="${RUSTUP_TOOLCHAIN:-$(cd / && rustup default | awk '{print $1}')}"
# libflux denies warnings; newer rustc adds lints that would fail the build. RUSTFLAGS does
# not reach host crates when cargo is given --target (flux-core is one), so use a rustc wrapper.
export RUSTC_WRAPPER="$HERE/rustc-cap-lints.sh"

# influxdb v2's go.mod has replace directives, so `go install pkg@version` refuses:
# build the main package from a throw-away wrapper module instead.
B="$(mktemp -d)"
trap 'rm -rf "$B"' EXIT
cd "$B"
printf 'module local/influxd-build\n\ngo 1.23\n' > go.mod
go get "github.com/influxdata/influxdb/v2/cmd/influxd@$VERSION"
# No `assets` tag: it would download the UI bundle. The sqlite tags are upstream's.
go_build_binary influxd github.com/influxdata/influxdb/v2/cmd/influxd \
  -tags sqlite_foreign_keys,sqlite_json -ldflags "-s -w ${EXTRA_LDFLAGS:-}"
