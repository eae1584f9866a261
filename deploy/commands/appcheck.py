"""What must hold before a project's release touches a node: its secrets are set and its settings load.

Both run before anything is shipped, migrated or switched, so a bad release leaves the running one serving.
"""

from __future__ import annotations

from ..model.app import AppSpec
from ..model.release import Release
from ..model.secrets import Secrets
from .context import Cluster
from .django_ops import run_manage
from .progress import Progress
from .state import ClusterError


def missing_secrets(spec: AppSpec, secrets: Secrets) -> list[str]:
    values = secrets.app_values()
    return [name for name in spec.secrets if name not in values]


def check_app_secrets(spec: AppSpec, secrets: Secrets) -> None:
    missing = missing_secrets(spec, secrets)
    if missing:
        sets = "; ".join(f"make secret NAME={n}" for n in missing)
        raise ClusterError(
            f"{spec.name} declares secret(s) that are not set: {', '.join(missing)} "
            f"(tiers.toml [app.secrets]). Set each ({sets}: it asks for the value), then try again. "
            f"No node was changed."
        )


def check_settings(cluster: Cluster, release: Release, progress: Progress) -> None:
    """Django's system checks with the release's code, Python and settings (the project's under the
    integration's layer) and a web node's environment: a settings module that does not import, an app that
    is not installed, a check the integration registers (guard.checks) stop the deploy here."""
    with progress.step(f"loading {release.spec.settings} under the Tiers layer (manage.py check)"):
        out = run_manage(cluster, ["check", "--fail-level", "ERROR"], release=release, timeout=300)
    if out.returncode != 0:
        raise ClusterError(
            f"release {release.version}: the project's settings do not load or do not pass Django's checks "
            f"(settings {release.spec.settings}, with the Tiers layer on top):\n"
            f"{(out.stderr or out.stdout).strip()[-2500:]}\nNo node was changed."
        )
