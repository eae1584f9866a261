"""Every config file of a cluster, rendered from the topology. Pure: returns, never writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .paths import StatePaths
from .programs import Program, programs
from .render.haproxy import render_dbproxy, render_lb
from .render.nginx import render_media
from .render.patroni import patroni_ctl_config, render_patroni
from .render.seaweed import s3_identities
from .render.supervisor import render_supervisord
from .render.uwsgi import render_uwsgi
from .secrets import Secrets
from .topology import Topology


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    content: str
    mode: int = 0o644
    owner: str = "root"
    # The program that must be restarted (or reloaded) when this file changes.
    program: str = ""


def render_all(
    topo: Topology,
    paths: StatePaths,
    secrets: Secrets,
    node_releases: Mapping[str, tuple[Path, str]] | None = None,
    worker_release: tuple[Path, str] | None = None,
) -> list[ConfigFile]:
    """``node_releases``: web node -> (release app dir, version) it runs (deploy/releases.py);
    ``worker_release``: the (app dir, version) workers run, the live release."""
    node_releases = node_releases or {}
    conf = paths.conf_file
    progs: list[Program] = programs(topo, paths, secrets, worker_release)
    files = [
        ConfigFile(conf("supervisord.conf"), render_supervisord(topo.cluster.name, progs, paths), 0o600),
        ConfigFile(conf(f"haproxy-{topo.lb.name}.cfg"), render_lb(topo, paths), program=topo.lb.name),
        ConfigFile(
            conf(f"haproxy-{topo.dbproxy.name}.cfg"), render_dbproxy(topo, paths), program=topo.dbproxy.name
        ),
        ConfigFile(conf(f"nginx-{topo.media.name}.conf"), render_media(topo, paths), program=topo.media.name),
        ConfigFile(conf("s3-identities.json"), s3_identities(topo, secrets), 0o600, program=topo.s3.name),
        ConfigFile(conf("patronictl.yml"), patroni_ctl_config(topo, paths), 0o644),
    ]
    for node in topo.db:
        files.append(
            ConfigFile(
                conf(f"patroni-{node.name}.yml"),
                render_patroni(topo, node, paths, secrets),
                0o600,
                owner="postgres",
                program=node.name,
            )
        )
    for node in topo.web:
        files.append(
            ConfigFile(
                conf(f"uwsgi-{node.name}.ini"),
                render_uwsgi(topo, node, paths, secrets, *node_releases.get(node.name, (None, ""))),
                0o600,
                program=node.name,
            )
        )
    return files
