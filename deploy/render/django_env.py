"""The environment of one web or worker node: everything Django learns about its world.

``app/`` never imports ``deploy/``; it reads only these variables, exactly as a
production host would receive them from systemd's ``EnvironmentFile``. The
table in docs/SETTINGS.md documents each variable, its local default and its
production value.
"""

from __future__ import annotations

from ..model.paths import StatePaths
from ..model.release import Release
from ..model.secrets import Secrets
from ..model.topology import Node, Topology
from .pgbouncer import replica_pool


def web_environment(
    topo: Topology, node: Node, paths: StatePaths, secrets: Secrets, release: Release | None = None
) -> dict[str, str]:
    """Environment variables for a web (or worker) node running ``release``, in a stable order.

    Without a release: only what the cluster decides (what `check` and the unit tests look at)."""
    db = topo.database
    pooler = next(iter(topo.by_role("pgbouncer")), None)
    primary = pooler or topo.one("dbproxy")
    if pooler:
        read_nodes = [f"{n.name}={pooler.endpoint}/{replica_pool(topo, n)}" for n in topo.by_role("db")]
    else:
        read_nodes = [f"{n.name}={n.endpoint}" for n in topo.by_role("db")]
    s3 = topo.one("s3")
    media = topo.one("media")
    local = topo.cluster.profile == "local"
    endpoint = topo.storage.endpoint_url or f"http://{s3.address}:{s3.port}"
    lb = topo.one("lb")
    # The LB's address (its health checks and the site) and the node's own (direct probes). Never the
    # sibling nodes': adding a web node (`scale`) must not change, and so restart, the others.
    hosts = {lb.address, "localhost", node.address}
    if lb.opt("public_host"):
        hosts.add(lb.opt("public_host"))  # the name clients use in production
    allowed = ",".join(sorted(hosts))
    # Browsers send Origin with every POST; Django compares it with the Host, so a form posted to the site's
    # HTTPS port is accepted when the origin is listed here (the name and port clients use).
    site = lb.opt("public_host") or lb.address
    https = lb.opt("https_port")
    origins = [f"https://{site}" if https == 443 else f"https://{site}:{https}"]
    media_base = (media.opt("public_url") or f"http://{media.address}:{media.port}").rstrip("/")
    env = {
        # The integration's layer, which imports the project's own settings (TIERS_APP_SETTINGS) first.
        "DJANGO_SETTINGS_MODULE": "tiers_site.settings",
        "TIERS_PROFILE": topo.cluster.profile,
        "TIERS_CLUSTER": topo.cluster.name,
        "TIERS_NODE_NAME": node.name,
        "DJANGO_SECRET_KEY": secrets.django_secret_key,
        "DJANGO_ALLOWED_HOSTS": allowed,
        "DJANGO_CSRF_TRUSTED_ORIGINS": ",".join(origins),
        "DJANGO_DEBUG": "0",
        "DEBUG_HEADERS": "1" if local else "0",
        # The primary is always reached through dbproxy, which follows Patroni's leader (through the
        # pooler's primary pool when the topology has one).
        "DB_NAME": db.name,
        "DB_USER": db.user,
        "DB_PASSWORD": secrets.db_app_password,
        "DB_PRIMARY_HOST": primary.address,
        "DB_PRIMARY_PORT": str(primary.port),
        # Every DB node is a read candidate (directly, or through its own pool); the router reads only
        # from those that are in recovery (replicas), caught up and healthy.
        "DB_READ_NODES": ",".join(read_nodes),
        # Transaction pooling: Django must not rely on session state (server-side cursors).
        "DB_POOLED": "1" if pooler else "0",
        "DB_MAX_LAG_BYTES": str(db.max_replica_lag_bytes),
        "DB_MAX_LAG_SECONDS": str(db.max_replica_lag_seconds),
        "CACHE_NODES": ",".join(c.endpoint for c in topo.by_role("cache")),
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": topo.storage.region,
        "S3_ADDRESSING_STYLE": topo.storage.addressing_style,
        "S3_ACCESS_KEY_ID": secrets.s3_access_key,
        "S3_SECRET_ACCESS_KEY": secrets.s3_secret_key,
        "S3_MEDIA_BUCKET": topo.storage.media_bucket,
        "S3_STATIC_BUCKET": topo.storage.static_bucket,
        "S3_PRIVATE_BUCKET": topo.storage.private_bucket,
        "MEDIA_URL": f"{media_base}/media/",
        "STATIC_URL": f"{media_base}/static/",
        # Presigned private-bucket URLs are handed out through the media host's /private/ location.
        "PRIVATE_MEDIA_URL": f"{media_base}/private/",
        "TIERS_LOG_DIR": str(paths.log),
        # Only the load balancer's X-Forwarded-For names the client (it replaces any the client sent).
        "TRUSTED_PROXIES": lb.address,
        **admin_networks(topo),
        **email_environment(topo),
    }
    return {**env, **app_environment(release, secrets)} if release else env


def app_environment(release: Release, secrets: Secrets) -> dict[str, str]:
    """What the project brings: its settings module, the settings it keeps, its own variables and secrets.

    A secret the project declares but the operator has not set is left out here; the operator's commands
    refuse to change a node before that (deploy/commands/appcheck.py)."""
    spec = release.spec
    values = secrets.app_values()
    return {
        "TIERS_APP_SETTINGS": spec.settings,
        "TIERS_KEEP_SETTINGS": ",".join(spec.keep),
        "TIERS_RELEASE": release.version,
        # The integration's packages, importable by manage.py and the worker (uWSGI sets its pythonpath).
        "PYTHONPATH": str(release.integration),
        **spec.env,
        **{name: values[name] for name in spec.secrets if name in values},
    }


def admin_networks(topo: Topology) -> dict[str, str]:
    """Who reaches /admin/: the lb's ``admin_networks``; production with none set: nobody."""
    networks = topo.one("lb").opt("admin_networks")
    if networks or topo.cluster.profile == "production":
        return {"ADMIN_ALLOWED_NETWORKS": ",".join(networks)}
    return {}  # the app's local default: loopback


def email_environment(topo: Topology) -> dict[str, str]:
    """SMTP when the topology names a relay, else the console (refused by production's checks)."""
    email = topo.email
    if not email.host:
        return {"EMAIL_BACKEND": "console", "DEFAULT_FROM_EMAIL": email.from_address}
    return {
        "EMAIL_BACKEND": "smtp",
        "EMAIL_HOST": email.host,
        "EMAIL_PORT": str(email.port),
        "EMAIL_HOST_USER": email.user,
        "EMAIL_USE_TLS": "1" if email.use_tls else "0",
        "DEFAULT_FROM_EMAIL": email.from_address,
    }
