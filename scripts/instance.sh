#!/usr/bin/env bash
# Runs a named Asterisk instance from the embedded runtime root, with its own directories.
#   instance.sh start NAME CONFDIR MODULE.so   copy CONFDIR's *.conf, install the module, start, wait
#   instance.sh stop NAME                       stop it (gracefully, then by force)
#   instance.sh cli NAME 'command'              run one CLI command
#   instance.sh console NAME                    attach a remote console
#   instance.sh status NAME                     exit 0 if running
# The instance lives inside the root at /srv/multireg/NAME (etc, modules, lib, log, run, spool).
set -euo pipefail

# Another Asterisk is run with the variables the tests use (tests/common/runtime.rs), e.g. a source
# build: MULTIREG_ASTERISK_ROOT=/ (no chroot), MULTIREG_ASTERISK_BINARY, MULTIREG_ASTERISK_MODULES,
# MULTIREG_ASTERISK_DATADIR, MULTIREG_INSTANCES.
CACHE=${MULTIREG_CACHE:-$HOME/.cache/res_pjsip_multireg}
ROOT=${MULTIREG_ASTERISK_ROOT:-$CACHE/root}
BINARY=${MULTIREG_ASTERISK_BINARY:-/usr/sbin/asterisk}
STOCK_MODULES=${MULTIREG_ASTERISK_MODULES:-/usr/lib/x86_64-linux-gnu/asterisk/modules}
DATADIR=${MULTIREG_ASTERISK_DATADIR:-/usr/share/asterisk}
INSTANCES=${MULTIREG_INSTANCES:-/srv/multireg}
ROOT=${ROOT%/}
die() { printf '[instance] error: %s\n' "$*" >&2; exit 1; }

[[ $# -ge 2 ]] || die "usage: instance.sh start|stop|cli|console|status NAME ..."
action=$1 name=$2
[[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad instance name '$name'"
[[ -x $ROOT$BINARY ]] || die "no Asterisk at $ROOT$BINARY; run 'make asterisk' first"
inside=$INSTANCES/$name      # path as Asterisk sees it (inside the root)
outside=$ROOT$inside         # same folder seen from the host
conf=$inside/etc/asterisk.conf

if [[ -n $ROOT ]]; then asterisk=(chroot "$ROOT" "$BINARY"); else asterisk=("$BINARY"); fi
ast() { "${asterisk[@]}" -C "$conf" "$@"; }
running() { [[ -f $outside/asterisk.pid ]] && kill -0 "$(cat "$outside/asterisk.pid")" 2>/dev/null; }

write_asterisk_conf() {
    cat >"$outside/etc/asterisk.conf" <<CONF
[directories]
astetcdir => $inside/etc
astmoddir => $inside/modules
astvarlibdir => $inside/lib
astdbdir => $inside/lib
astkeydir => $inside/lib
astdatadir => $DATADIR
astagidir => $DATADIR/agi-bin
astspooldir => $inside/spool
astrundir => $inside/run
astlogdir => $inside/log
astcachedir => $inside/cache
astsbindir => ${BINARY%/*}

[options]
systemname = multireg-$name
CONF
}

install_modules() {
    local module=$1 stock=$STOCK_MODULES
    rm -rf "$outside/modules"
    mkdir -p "$outside/modules"
    for so in "$ROOT$stock"/*.so; do
        ln -s "$stock/${so##*/}" "$outside/modules/${so##*/}"
    done
    cp "$module" "$outside/modules/res_pjsip_multireg.so"
}

case $action in
start)
    [[ $# -ge 4 ]] || die "usage: instance.sh start NAME CONFDIR MODULE.so"
    confdir=$3 module=$4
    [[ -f $module ]] || die "module $module not built"
    if running; then die "instance '$name' is already running (make stop)"; fi
    mkdir -p "$outside"/{etc,lib,log,run,spool,cache}
    # Configuration files are copied each start; the astdb (lib/) and voicemail (spool/) persist.
    cp "$confdir"/*.conf "$outside/etc/"
    write_asterisk_conf
    install_modules "$module"
    rm -f "$outside/run/asterisk.ctl"
    setsid "${asterisk[@]}" -f -C "$conf" </dev/null >"$outside/log/stdout.log" 2>&1 &
    echo $! >"$outside/asterisk.pid"
    for _ in $(seq 1 150); do
        if ast -rx 'core waitfullybooted' >/dev/null 2>&1; then
            exit 0
        fi
        running || die "Asterisk exited during start-up; see $outside/log/stdout.log and $outside/log/messages.log"
        sleep 0.2
    done
    die "Asterisk did not finish booting in 30 s; see $outside/log/"
    ;;
stop)
    if running; then
        ast -rx 'core stop now' >/dev/null 2>&1 || true
        pid=$(cat "$outside/asterisk.pid")
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$outside/asterisk.pid"
    ;;
cli)
    [[ $# -ge 3 ]] || die "usage: instance.sh cli NAME 'command'"
    running || die "instance '$name' is not running (make run)"
    ast -rx "$3"
    ;;
console)
    running || die "instance '$name' is not running (make run)"
    ast -r
    ;;
status)
    running
    ;;
*) die "unknown action '$action'" ;;
esac
