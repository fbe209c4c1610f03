#!/usr/bin/env bash
# Installs Debian's PostgreSQL server and client on the host, for the cluster tests
# (tests/cluster.rs start a private server in a temporary folder; no system service is used).
# Fails loudly when it cannot: the cluster tests never skip.
set -euo pipefail
have_server() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && command -v psql >/dev/null; }
if have_server; then
    exit 0
fi
[[ $(id -u) == 0 ]] || { echo "[postgres-deps] need root to install postgresql" >&2; exit 1; }
echo "[postgres-deps] installing postgresql (server and client) from the host's apt sources" >&2
apt-get update -q >&2 || true
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql postgresql-client >&2
# Debian's package creates and starts a default cluster; the tests never use it.
have_server || { echo "[postgres-deps] error: postgresql installed but initdb/psql not found" >&2; exit 1; }
