#!/usr/bin/env bash
# What `make fuzz` needs beyond `make build`: a C++ compiler (libfuzzer-sys builds libFuzzer) and
# cargo-fuzz. No nightly toolchain: scripts/fuzz.sh runs cargo-fuzz on stable with
# RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Zsanitizer=address and other -Z flags).
set -euo pipefail
if ! command -v g++ >/dev/null; then
    [[ $(id -u) == 0 ]] || { echo "[fuzz-deps] need root to install g++" >&2; exit 1; }
    echo "[fuzz-deps] installing g++" >&2
    apt-get update -q >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q g++ >&2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "[fuzz-deps] installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
