# Sourced (not run) by the scripts that build a Go program from its module and cache the binary:
# build-alertmanager.sh, build-influxd.sh and bench/build-telegraf.sh. Each of them:
#
#   go_build_cached NAME VERSION CACHE  OUT=CACHE/NAME-VERSION; if OUT/NAME is built already,
#                                       print its path and exit 0. Sets up the Go environment:
#                                       GOTOOLCHAIN=local (never download another toolchain),
#                                       GOFLAGS=-mod=mod, CGO_ENABLED=0 (a caller needing cgo
#                                       exports CGO_ENABLED=1 after this call)
#   go_module_copy MODULE VERSION       cd into a writable copy of the module's source, in a
#                                       temporary directory removed at exit (for modules whose
#                                       go.mod has replace directives: `go install pkg@version`
#                                       refuses them)
#   go_build_binary NAME PACKAGE [FLAGS...]
#                                       go build -trimpath FLAGS into OUT/NAME (via NAME.tmp, so
#                                       a failed build never leaves a binary that looks cached);
#                                       print its path
# shellcheck shell=bash

go_build_cached() {
  local name="$1" version="$2" cache="$3"
  OUT="$cache/$name-$version"
  if [ -x "$OUT/$name" ]; then echo "$OUT/$name"; exit 0; fi
  command -v go >/dev/null || { echo "build $name: Go is required" >&2; exit 1; }
  mkdir -p "$OUT"
  export GOTOOLCHAIN=local
  export CGO_ENABLED=0
  export GOFLAGS="-mod=mod"
}

go_module_copy() {
  local module="$1" version="$2" info src
  info="$(go mod download -json "$module@$version" || true)"
  src="$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src" ] || { echo "go mod download $module@$version failed: $info" >&2; exit 1; }
  GO_MODULE_COPY="$(mktemp -d)"
  trap 'chmod -R u+w "$GO_MODULE_COPY" 2>/dev/null; rm -rf "$GO_MODULE_COPY"' EXIT
  cp -r "$src/." "$GO_MODULE_COPY/"
  chmod -R u+w "$GO_MODULE_COPY"
  cd "$GO_MODULE_COPY"
}

go_build_binary() {
  local name="$1" package="$2"
  shift 2
  go build -trimpath "$@" -o "$OUT/$name.tmp" "$package"
  mv "$OUT/$name.tmp" "$OUT/$name"
  echo "$OUT/$name"
}
