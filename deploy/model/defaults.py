"""Defaults used in more than one place, each defined once: binaries and operation time bounds."""

from __future__ import annotations

from pathlib import Path

# Debian's binaries (deploy/bootstrap.sh installs their packages; each role lists what it needs).
HAPROXY = "/usr/sbin/haproxy"
NGINX = "/usr/sbin/nginx"
MEMCACHED = "/usr/bin/memcached"
RSYSLOGD = "/usr/sbin/rsyslogd"
ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"
PG_BIN_DIR = Path("/usr/lib/postgresql/15/bin")

# Rolling deploy, rollback and scale: bound on a drained node's in-flight requests finishing.
DRAIN_TIMEOUT_S = 30.0
# Bound on a (re)started web node answering /readyz 200.
READY_TIMEOUT_S = 45.0
# Bound on HAProxy marking a server UP after `state ready` (rise 2 x inter 1s, plus slack).
UP_TIMEOUT_S = 15.0
# A web node's /readyz probe from the orchestrator: as long as HAProxy's own check allows.
READYZ_PROBE_TIMEOUT_S = 3.0

# A log file a node writes itself (uWSGI's logto, the LB's syslog) is rotated at this size, one old copy kept.
LOG_MAX_BYTES = 20 * 1024 * 1024
# Strict-Transport-Security max-age of HTTPS answers (lb and media host): a year, as preload lists expect.
HSTS_MAX_AGE_S = 31536000

# Mozilla's "intermediate" TLS profile (v5.7): TLS 1.2 with forward-secret AEAD ciphers, and TLS 1.3.
TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
TLS13_CIPHERSUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
