"""Defaults used in more than one place, each defined once: binaries and operation time bounds."""

from __future__ import annotations

from pathlib import Path

# Debian's binaries (deploy/bootstrap.sh installs their packages; each role lists what it needs).
HAPROXY = "/usr/sbin/haproxy"
NGINX = "/usr/sbin/nginx"
MEMCACHED = "/usr/bin/memcached"
ETCD = "/usr/bin/etcd"
PG_BIN_DIR = Path("/usr/lib/postgresql/15/bin")

# Rolling deploy, rollback and scale: bound on a drained node's in-flight requests finishing.
DRAIN_TIMEOUT_S = 30.0
# Bound on a (re)started web node answering /readyz 200.
READY_TIMEOUT_S = 45.0
# Bound on HAProxy marking a server UP after `state ready` (rise 2 x inter 1s, plus slack).
UP_TIMEOUT_S = 15.0
# A web node's /readyz probe from the orchestrator: as long as HAProxy's own check allows.
READYZ_PROBE_TIMEOUT_S = 3.0
