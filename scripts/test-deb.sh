#!/usr/bin/env bash
# `make deb`'s own test (not part of `make test`): installs the package with apt into a copy of the
# embedded runtime root (Debian's asterisk 22 packages), checks what dpkg recorded, then runs the
# foundation tests against that root with the module as the package installed it (Asterisk loads
# it, and they unload and load it a hundred times), and checks the conffile survives a reinstall
# and a remove, and goes on purge.
# Usage: test-deb.sh PACKAGE.deb
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
deb=$(realpath "$1")
CACHE=${MULTIREG_CACHE:-$HOME/.cache/res_pjsip_multireg}
PACKAGE=asterisk-res-pjsip-multireg
log() { printf '[test-deb] %s\n' "$*" >&2; }
die() { printf '[test-deb] FAILED: %s\n' "$*" >&2; exit 1; }

T=$(mktemp -d /var/tmp/multireg-deb.XXXXXX)
trap 'rm -rf "$T"' EXIT
log "copying the runtime root to $T/root"
# Without the instance folders and documentation temporaries other test runs create and remove
# while this copies.
mkdir "$T/root"
tar -C "$CACHE/root" --exclude=./srv --exclude='.res_pjsip_multireg.*.tmp' -cf - . | tar -C "$T/root" -xf -
R=$T/root
in_root() { chroot "$R" env DEBIAN_FRONTEND=noninteractive "$@"; }
cp "$deb" "$R/tmp/"
name=$(basename "$deb")

depends=$(dpkg-deb -f "$deb" Depends)
asterisk_version=$(in_root dpkg-query -W -f='${Version}' asterisk)
[[ $depends == *"asterisk (= $asterisk_version)"* ]] || die "Depends '$depends' does not pin asterisk $asterisk_version"

log "apt install ./$name"
in_root apt-get install -y -q "/tmp/$name" >&2
in_root dpkg-query -W -f='${Status}\n' "$PACKAGE" | grep -q "install ok installed" || die "$PACKAGE not installed"
moddir=$(in_root dpkg -L "$PACKAGE" | grep '/asterisk/modules/res_pjsip_multireg.so$') || die "no module in the package"
in_root dpkg-query -W -f='${Conffiles}\n' "$PACKAGE" | grep -q '/etc/asterisk/pjsip_multireg.conf' || die "sample is not a conffile"
[[ $(in_root stat -c %U:%G:%a /etc/asterisk/pjsip_multireg.conf) == asterisk:asterisk:640 ]] || die "sample not owned by asterisk"
cmp -s docs/res_pjsip_multireg-en_US.xml "$R/usr/share/asterisk/documentation/thirdparty/res_pjsip_multireg-en_US.xml" \
    || die "documentation not installed"

log "foundation tests against the package's Asterisk with the packaged module ($moddir)"
MULTIREG_ASTERISK_ROOT=$R MULTIREG_MODULE=$R$moddir MULTIREG_INSTANCES=/srv/multireg-deb \
    cargo nextest run --release --no-fail-fast --test foundation >&2

log "conffile handling: kept on reinstall and remove, gone on purge"
echo "; changed by the administrator" >>"$R/etc/asterisk/pjsip_multireg.conf"
in_root apt-get install -y -q --reinstall "/tmp/$name" >&2
grep -q "changed by the administrator" "$R/etc/asterisk/pjsip_multireg.conf" || die "reinstall overwrote the conffile"
in_root apt-get remove -y -q "$PACKAGE" >&2
[[ ! -e $R$moddir ]] || die "remove left the module"
grep -q "changed by the administrator" "$R/etc/asterisk/pjsip_multireg.conf" || die "remove deleted the conffile"
in_root apt-get purge -y -q "$PACKAGE" >&2
[[ ! -e $R/etc/asterisk/pjsip_multireg.conf ]] || die "purge left the conffile"
log "passed: $name"
