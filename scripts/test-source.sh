#!/usr/bin/env bash
# `make test-source`: the module against Asterisk 22 built from source (scripts/build-asterisk-source.sh,
# cached in MULTIREG_SOURCE_CACHE, default $MULTIREG_CACHE/source), in the two ways administrators
# build it:
#   1. ASTERISK_SRC=<the built source tree>: build, then the whole integration suite against that
#      Asterisk (run from its install prefix, no chroot).
#   2. ASTERISK_INCLUDE_DIR=<prefix>/include (what `make install-headers` leaves) plus
#      PJPROJECT_INCLUDE_DIRS (the bundled pjproject's include folders) and ASTERISK_VERSION: build,
#      then the foundation, install and install-refusal tests with that module.
# Each variant builds in its own target folder, so `make build`'s target/release is left alone.
# The suite includes install_refusal.rs, so `make install`'s checks run against this Asterisk too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CACHE=${MULTIREG_CACHE:-$HOME/.cache/res_pjsip_multireg}
S=${MULTIREG_SOURCE_CACHE:-$CACHE/source}
log() { printf '\n[test-source] %s\n' "$*" >&2; }

bash scripts/build-asterisk-source.sh
PREFIX=$S/prefix
PJ=$S/asterisk/third-party/pjproject/source
PJDIRS=$PJ/pjlib/include:$PJ/pjlib-util/include:$PJ/pjnath/include:$PJ/pjmedia/include:$PJ/pjsip/include

# The harness runs this Asterisk directly (root /) with its own folders (tests/common/runtime.rs).
export MULTIREG_ASTERISK_ROOT=/
export MULTIREG_ASTERISK_BINARY=$PREFIX/sbin/asterisk
export MULTIREG_ASTERISK_MODULES=$PREFIX/lib/asterisk/modules
export MULTIREG_ASTERISK_DATADIR=$PREFIX/var/lib/asterisk
export MULTIREG_INSTANCES=$S/instances
mkdir -p "$MULTIREG_INSTANCES"
"$MULTIREG_ASTERISK_BINARY" -V

nextest() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --release --no-fail-fast "$@"
    else
        cargo test --release --no-fail-fast "$@"
    fi
}

log "1. ASTERISK_SRC=$S/asterisk"
export CARGO_TARGET_DIR=$PWD/target/asterisk-src
ASTERISK_SRC=$S/asterisk cargo build --release
export MULTIREG_MODULE=$CARGO_TARGET_DIR/release/libres_pjsip_multireg.so
ASTERISK_SRC=$S/asterisk nextest

log "2. ASTERISK_INCLUDE_DIR=$PREFIX/include PJPROJECT_INCLUDE_DIRS=<bundled pjproject>"
export CARGO_TARGET_DIR=$PWD/target/asterisk-include
export ASTERISK_INCLUDE_DIR=$PREFIX/include PJPROJECT_INCLUDE_DIRS=$PJDIRS ASTERISK_VERSION=$(cat "$S/asterisk/.version")
cargo build --release
export MULTIREG_MODULE=$CARGO_TARGET_DIR/release/libres_pjsip_multireg.so
nextest --test foundation --test install --test install_refusal --test docs_xml
unset ASTERISK_INCLUDE_DIR PJPROJECT_INCLUDE_DIRS ASTERISK_VERSION

log "all source-build checks passed"
