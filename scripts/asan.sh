#!/usr/bin/env bash
# `make asan`: the module built with AddressSanitizer (Rust code and the C shim), loaded into the
# embedded Asterisk 22 with the ASan runtime preloaded (Asterisk itself is not instrumented, but
# every malloc/free goes through ASan, so the module's out-of-bounds accesses, use-after-free and
# double or mismatched frees of Asterisk objects are caught), then the integration tests that
# cover every callback. A report (the instance's log/asan.<pid>) fails the test and is printed.
# Not part of `make test`.
#   ASAN_TESTS   nextest filter (default: every test file that drives a callback, see below)
set -euo pipefail
cd "$(dirname "$0")/.."
root=${MULTIREG_ASTERISK_ROOT:-${MULTIREG_CACHE:-$HOME/.cache/res_pjsip_multireg}/root}
libasan=/usr/lib/x86_64-linux-gnu/libasan.so.8
if [[ ! -e $root$libasan ]]; then
    # The runtime root needs the ASan runtime of its own C library generation.
    echo "[asan] installing libasan8 into the runtime root $root" >&2
    chroot "$root" apt-get install -y -q libasan8 >&2
fi
target=x86_64-unknown-linux-gnu
# --target keeps the sanitizer out of build scripts; RUSTC_BOOTSTRAP lets stable rustc take -Z.
RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes" \
    CFLAGS="-fsanitize=address -fno-omit-frame-pointer" CARGO_TARGET_DIR=target/asan \
    cargo build --release --target "$target"
module=$PWD/target/asan/$target/release/libres_pjsip_multireg.so
[[ $(nm -D "$module" | grep -c ' U __asan_init') == 1 ]] || { echo "[asan] $module is not instrumented" >&2; exit 1; }
# REGISTER accept/refuse and secondaries, dial application/function and ring modes, CLI with tab
# completion and AMI, auth blocking, queue events, reload, unload/load, restart, hostile SIP.
default_tests='binary(registrations) | binary(register_bypass) | binary(dual_registration) | binary(secondary_sync)
  | binary(dial_function) | binary(ring_modes) | binary(call_counting) | binary(admin_output) | binary(auth_blocking)
  | binary(queue_members) | binary(foundation) | binary(restart) | binary(hostile) | binary(robustness)'
export MULTIREG_MODULE=$module
export MULTIREG_ASTERISK_WRAPPER="env LD_PRELOAD=$libasan ASAN_OPTIONS=log_path={instance}/log/asan:detect_leaks=0:halt_on_error=1:detect_odr_violation=0:allow_user_segv_handler=1"
export MULTIREG_TIMEOUT_FACTOR=${MULTIREG_TIMEOUT_FACTOR:-3}
cargo nextest run --release --no-fail-fast -E "${ASAN_TESTS:-$default_tests}"
echo "[asan] no AddressSanitizer report: every test above ran the instrumented module" >&2
