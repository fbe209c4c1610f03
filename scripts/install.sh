#!/usr/bin/env bash
# Installs the built module into an existing Asterisk 22:
#   module  -> ASTERISK_MODDIR, or the running Asterisk's module directory
#   docs    -> <data dir>/documentation/thirdparty/ (read at start-up: core show application ...)
#   samples -> <etc>/pjsip_multireg.conf, only if no such file exists (nothing is overwritten)
set -euo pipefail
module=${1:-target/release/libres_pjsip_multireg.so}
[[ -f $module ]] || { echo "[install] build first: make build" >&2; exit 1; }
setting() { asterisk -rx 'core show settings' 2>/dev/null | sed -n "s/^ *$1: *//p" | head -n1; }
moddir=${ASTERISK_MODDIR:-$(setting 'Module directory')}
datadir=${ASTERISK_DATADIR:-$(setting 'Data directory')}
etcdir=${ASTERISK_ETCDIR:-$(setting 'Config directory' )}
[[ -n $moddir ]] || { echo "[install] Asterisk is not running; set ASTERISK_MODDIR (e.g. /usr/lib/x86_64-linux-gnu/asterisk/modules)" >&2; exit 1; }
running=$(asterisk -V 2>/dev/null || true)
if [[ -n $running && $running != "Asterisk 22."* ]]; then
    echo "[install] refusing: this module is built for Asterisk 22, found '$running'" >&2; exit 1
fi
install -D -m 0644 "$module" "$moddir/res_pjsip_multireg.so"
echo "[install] module -> $moddir/res_pjsip_multireg.so"
if [[ -n ${datadir:-} ]]; then
    install -D -m 0644 docs/res_pjsip_multireg-en_US.xml "$datadir/documentation/thirdparty/res_pjsip_multireg-en_US.xml"
    echo "[install] documentation -> $datadir/documentation/thirdparty/"
fi
etcdir=${etcdir:-/etc/asterisk}
if [[ -e $etcdir/pjsip_multireg.conf ]]; then
    echo "[install] $etcdir/pjsip_multireg.conf exists: left as it is"
else
    install -D -m 0640 asterisk-conf/pjsip_multireg.conf "$etcdir/pjsip_multireg.conf"
    echo "[install] sample -> $etcdir/pjsip_multireg.conf (add '#include pjsip_multireg.conf' to pjsip.conf)"
fi
echo "[install] now: asterisk -rx 'module load res_pjsip_multireg.so'"
