#!/usr/bin/env bash
# Install what Tiers needs on a Debian 12 machine, idempotently and quickly when nothing is missing:
# the Debian packages of every tier, then the project's venv (made from Debian's /usr/bin/python3 so the
# unprivileged postgres user can run Patroni from it). Called by `make up` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  postgresql-15 postgresql-client-15   # the database tier (run by Patroni, not by the Debian service)
  pgbackrest                           # its backups and WAL archive (docs/DATABASE.md "Backups")
  etcd-server etcd-client              # Patroni's leader lock
  haproxy                              # site load balancer and the dbproxy TCP endpoint
  pgbouncer                            # the connection pooler (transaction pooling) in front of the DB tier
  rsyslog                              # the site LB's access log writer (started by its HAProxy master)
  nginx                                # media server
  memcached                            # shared cache
  python3-venv python3-dev build-essential  # the venv, and uWSGI compiles against Python's headers
  patchelf                             # release envs on a pyenv Python: $ORIGIN-relative RUNPATHs (commands/appenv.py)
  curl wrk procps                      # probes and bounded load runs (make bench)
  iproute2 nftables openssh-server openssh-client  # the rehearsal fleet: namespaces, firewalls, sshd per host
)
if [ "${TIERS_TEST_TOOLS:-0}" = 1 ]; then
  packages+=(chromium)                 # browser tests (Playwright drives Debian's Chromium)
  packages+=(systemd)                  # systemd-analyze checks the production units (not run as init)
fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: missing Debian packages: ${missing[*]}" >&2
    echo "       run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "==> installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The venv is rebuilt when pyproject.toml changes (its hash is the stamp).
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing Python packages into .venv"
  [ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# The Terraform checks' tools (checkov, moto's AWS emulator): a venv of their own, made on test machines.
if [ "${TIERS_TEST_TOOLS:-0}" = 1 ]; then
  tools_stamp=".tools/.installed-$(sha256sum terraform/requirements-tools.txt | cut -c1-16)"
  if [ ! -f "$tools_stamp" ]; then
    echo "==> installing checkov and moto into .tools"
    [ -x .tools/bin/python ] || /usr/bin/python3 -m venv .tools
    .tools/bin/pip install -q --disable-pip-version-check -r terraform/requirements-tools.txt
    rm -f .tools/.installed-*
    touch "$tools_stamp"
  fi
fi
