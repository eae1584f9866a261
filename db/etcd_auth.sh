#!/bin/sh
# etcd authentication, set up on a cluster's first `up` and checked on every later one (idempotent).
# Run by root on an etcd host (deploy/render/etcd.py auth_setup):
#   etcd_auth.sh ETCDCTL ENDPOINTS PREFIX [CA_FILE]   with two lines on stdin: root's password, then
#   Patroni's. CA_FILE: what the endpoints' certificates chain to (production, https endpoints).
# Passwords arrive on stdin and reach etcdctl through its environment (readable by root only), never on a
# command line, which every local user can read in /proc.
# Afterwards: `root` administers; `patroni` may read and write PREFIX (its cluster's keys) and nothing
# else; a request without credentials is refused.
set -eu
etcdctl=$1
export ETCDCTL_API=3 ETCDCTL_ENDPOINTS="$2" ETCDCTL_DIAL_TIMEOUT=3s ETCDCTL_COMMAND_TIMEOUT=5s
prefix=$3
if [ -n "${4:-}" ]; then export ETCDCTL_CACERT="$4"; fi
IFS= read -r root_pw
IFS= read -r patroni_pw

ctl() { "$etcdctl" "$@"; }

# Without credentials, `user list` works only while authentication is off.
if ctl user list >/dev/null 2>&1; then
    # etcd refuses `auth enable` until the root user exists (with the root role).
    ctl user get root >/dev/null 2>&1 || printf '%s\n' "$root_pw" | ctl user add root --interactive=false >/dev/null
    ctl user grant-role root root >/dev/null
    ctl auth enable >/dev/null
fi

export ETCDCTL_USER=root ETCDCTL_PASSWORD="$root_pw"
# Fails here (exit 1, etcd's message) when authentication is on with another root password.
ctl user get root >/dev/null
ctl role get patroni >/dev/null 2>&1 || ctl role add patroni >/dev/null
ctl role grant-permission patroni --prefix=true readwrite "$prefix" >/dev/null
ctl user get patroni >/dev/null 2>&1 || printf '%s\n' "$patroni_pw" | ctl user add patroni --interactive=false >/dev/null
ctl user grant-role patroni patroni >/dev/null
# Patroni's password as the secrets say (a changed secret takes effect here).
if ! ETCDCTL_USER=patroni ETCDCTL_PASSWORD="$patroni_pw" ctl get "$prefix" --prefix --keys-only --limit=1 >/dev/null 2>&1; then
    printf '%s\n' "$patroni_pw" | ctl user passwd patroni --interactive=false >/dev/null
fi
echo "etcd authentication on; patroni may use $prefix"
