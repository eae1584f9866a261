"""The operator's verbs about the project a cluster serves: init, secret, and choosing the app for up/deploy.

``python -m deploy init PATH`` writes a project's tiers.toml (deploy/commands/app_init.py);
``python -m deploy secret set NAME`` stores one of its secrets beside the cluster's own (never in git);
``up --app PATH`` / ``deploy --app PATH`` name the project (plain ``up`` serves the bundled example).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from .commands.app_init import cli_init
from .commands.appcheck import check_app_secrets
from .commands.context import Cluster
from .commands.state import ClusterError
from .model import app as appmodel
from .model.secrets import set_app_secret


def add_app_commands(sub: argparse._SubParsersAction) -> None:
    ini = sub.add_parser(
        "init", help="write PATH/tiers.toml for an existing Django project (prints assumptions)"
    )
    ini.add_argument("path")
    for flag in ("settings", "wsgi", "requirements", "python"):
        ini.add_argument(f"--{flag}", help=f"the project's {flag} (default: found in the project)")
    ini.add_argument("--force", action="store_true", help="replace an existing tiers.toml")
    sec = sub.add_parser("secret", help="the project's secrets (tiers.toml [app.secrets]): set, unset, list")
    sec.add_argument("action", choices=("set", "unset", "list"))
    sec.add_argument("name", nargs="?")


def init_verb(args: argparse.Namespace) -> int:
    return cli_init(args.path, args.settings, args.wsgi, args.requirements, args.python, args.force)


def choose_app(cluster: Cluster, app: str | None) -> appmodel.AppSpec:
    """The project `up` serves: ``app`` (written a tiers.toml first when it has none) or the one the cluster
    serves already (the example by default). Refuses, changing nothing, a project other than the one the
    cluster's live release runs: switching projects is a deploy."""
    source = Path(app).resolve() if app else cluster.app_source()
    if app and (source / "manage.py").is_file() and not (source / appmodel.FILE_NAME).exists():
        print(f"{source} has no {appmodel.FILE_NAME}: writing one (python -m deploy init)")
        if cli_init(str(source), None, None, None, None, False):
            raise ClusterError(f"could not write {source / appmodel.FILE_NAME}; see the error above")
    spec = appmodel.load(source)
    live = cluster.worker_release()
    if live is not None and live.spec.source != spec.source:
        raise ClusterError(
            f"cluster {cluster.topo.cluster.name!r} serves {live.spec.name} ({live.spec.source}); "
            f"`make deploy APP={source}` switches it to this project with a rolling deploy, "
            f"`make clean` starts the cluster over. Nothing was changed."
        )
    check_app_secrets(spec, cluster.secrets)
    cluster.record_app_source(spec.source)
    return spec


def secret_verb(cluster: Cluster, action: str, name: str | None) -> int:
    try:
        declared = appmodel.load(cluster.app_source()).secrets
    except appmodel.AppError:
        declared = ()
    values = cluster.secrets.app_values()
    if action == "list":
        for n in sorted(set(declared) | set(values)):
            state = "set" if n in values else "NOT SET"
            print(f"{n:32} {state}{'' if n in declared else '  (not declared by the app)'}")
        return 0
    if not name or not appmodel.ENV_NAME.match(name):
        raise ClusterError(f"secret {action}: give the secret's NAME (A-Z, 0-9, _), e.g. STRIPE_API_KEY")
    if action == "unset":
        set_app_secret(cluster.paths.secrets, name, None)
        print(
            f"{name} removed; app nodes lose it when their configs are next rendered (make up, or a deploy of a new release)"
        )
        return 0
    value = getpass.getpass(f"{name}: ") if sys.stdin.isatty() else sys.stdin.read().rstrip("\n")
    if not value:
        raise ClusterError(f"secret set {name}: the value is empty (give it on stdin or at the prompt)")
    set_app_secret(cluster.paths.secrets, name, value)
    note = "" if name in declared else " (the app's tiers.toml does not declare it yet)"
    print(
        f"{name} set in {cluster.paths.secrets}{note}; app nodes receive it when their configs are next rendered (make up, or a deploy of a new release)"
    )
    return 0
