#!/usr/bin/env bash
# Installs valgrind into the Asterisk runtime root (for `make bench-instructions`), once. The root's
# own apt sources are the ones mmdebstrap wrote from the host's mirror; the host's apt is untouched.
set -euo pipefail
ROOT="${MULTIREG_CACHE:-$HOME/.cache/res_pjsip_multireg}/root"
[[ -x "$ROOT/usr/sbin/asterisk" ]] || { echo "no runtime root at $ROOT: run make asterisk" >&2; exit 1; }
[[ -x "$ROOT/usr/bin/valgrind" ]] && exit 0
echo "[valgrind] installing valgrind into the runtime root" >&2
chroot "$ROOT" apt-get -o Acquire::Check-Valid-Until=false update -q >&2
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends valgrind >&2
