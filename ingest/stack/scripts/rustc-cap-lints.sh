#!/usr/bin/env bash
# RUSTC_WRAPPER for libflux: flux denies warnings, and newer rustc adds lints that then fail the
# build. RUSTFLAGS=--cap-lints does not reach host crates when cargo gets --target, and flux-core
# is also built for the host (a build-dependency of flux), so cap lints on every rustc call.
rustc="$1"; shift
for a in "$@"; do
  case "$a" in --cap-lints|--cap-lints=*) exec "$rustc" "$@" ;; esac
done
exec "$rustc" "$@" --cap-lints warn
