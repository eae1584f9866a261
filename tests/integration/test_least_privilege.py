"""Least privilege inside the cluster, probed on the running processes and their files (issue 12).

Each test names its probe: /proc for process owners, Patroni's REST API, etcd's gRPC gateway, the SeaweedFS
filer's HTTP API, the rendered files' modes and contents, the media host's access log.
"""

from __future__ import annotations

import base64
import http.client
import json
import pwd
import uuid
from pathlib import Path

import pytest
import requests

from deploy.clients.procs import child_map, tree
from deploy.clients.supervisor import Supervisor
from deploy.commands.context import Cluster
from deploy.model.secrets import field_names
from deploy.model.topology import Node
from deploy.render.patroni import REST_USER
from deploy.roles import role_of
from deploy.roles.db import patroni_status
from deploy.roles.nodes import node_files, programs
from tests.integration.helpers import wait_until
from tests.integration.media import s3_client

pytestmark = pytest.mark.integration


def _uids(pid: int) -> tuple[int, ...]:
    """Real, effective, saved and file-system uid of ``pid`` (/proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return tuple(int(u) for u in line.split()[1:])
    raise AssertionError(f"no Uid line for {pid}")


def test_no_service_process_runs_as_root(cluster: Cluster) -> None:
    """Probe: /proc/<pid>/status of every supervised program and all its descendants (HAProxy workers,
    its rsyslog, nginx workers, uWSGI workers, PostgreSQL backends), and of Patroni's detached postmaster."""
    children = child_map()
    supervisord = int((cluster.paths.run / "supervisord.pid").read_text())
    assert _uids(supervisord)[0] == 0  # the process manager itself is root: it starts each as its user
    checked = 0
    # Every supervised program (nodes and their sidecars, such as a DB node's backup schedule) and the user
    # its role declares for it.
    users = {p.name: p.user for p in programs(cluster.render_context({}))}
    for name, info in Supervisor(cluster.paths).processes().items():
        assert info["statename"] == "RUNNING", (name, info["statename"])
        pids = tree(info["pid"], children)
        if name in {n.name for n in cluster.topo}:
            node = cluster.topo.node(name)
            pids += [s for s in role_of(node).strays(cluster.paths, node) for s in tree(s, children)]
        want = users[name]
        assert want != "root", name
        for pid in pids:
            try:
                uids = _uids(pid)
            except OSError:
                continue  # a short-lived child that exited
            assert 0 not in uids, f"{name}: pid {pid} runs with uid 0 ({uids})"
            assert uids[0] == uids[1] and Path(f"/proc/{pid}").stat().st_uid == _uid_of(want), (name, pid)
            checked += 1
    assert checked >= len(cluster.topo.nodes) + 10  # workers and backends were seen, not just the mains


def _uid_of(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def _leader(cluster: Cluster) -> Node:
    for node in cluster.topo.by_role("db"):
        if (patroni_status(node, cluster.place.prober(node)) or {}).get("role") in ("master", "primary"):
            return node
    raise AssertionError("no Patroni leader")


def _post_switchover(node: Node, auth: tuple[str, str] | None, source: str = "127.0.0.1") -> tuple[int, str]:
    """POST /switchover naming a candidate that does not exist (so an accepted call changes nothing)."""
    conn = http.client.HTTPConnection(
        node.address, node.opt("rest_port"), timeout=5, source_address=(source, 0)
    )
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    body = json.dumps({"leader": node.name, "candidate": "no-such-member"})
    try:
        conn.request("POST", "/switchover", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def test_patroni_switchover_needs_credentials_and_an_allowed_source(cluster: Cluster) -> None:
    """Probe: Patroni's REST API on the leader, POST /switchover from loopback (allowlisted) without and with
    credentials, and from a web node's address (not allowlisted) with them. `make failover` (patronictl with
    patronictl.yml's credentials) is the accepted path: tests/integration/test_failover.py."""
    leader = _leader(cluster)
    password = cluster.secrets.patroni_rest_password
    status, text = _post_switchover(leader, None)
    assert status == 401, text
    assert _post_switchover(leader, (REST_USER, password + "x"))[0] == 401
    # Right credentials: past authentication, refused only for the candidate that does not exist (in
    # synchronous mode Patroni first finds it is no synchronous standby; either way, Patroni's wording).
    status, text = _post_switchover(leader, (REST_USER, password))
    assert status == 412 and text in (
        "candidate does not exists",
        "candidate name does not match with sync_standby",
    ), (status, text)
    web = cluster.topo.by_role("web")[0]
    status, text = _post_switchover(leader, (REST_USER, password), source=web.address)
    assert status == 403, text
    # Reads stay open: dbproxy's health check and `status` ask them without credentials.
    assert (
        requests.get(f"http://{leader.address}:{leader.opt('rest_port')}/primary", timeout=5).status_code
        == 200
    )
    assert _leader(cluster).name == leader.name  # nothing was switched over


def _etcd(node: Node, path: str, body: dict, token: str = "") -> dict:
    headers = {"Authorization": token} if token else {}
    r = requests.post(f"http://{node.address}:{node.port}/v3/{path}", json=body, headers=headers, timeout=5)
    return r.json()


def test_etcd_refuses_a_read_without_credentials(cluster: Cluster) -> None:
    """Probe: etcd's v3 gRPC gateway: a range over Patroni's keys without a token, then with the patroni
    user's token (its prefix, and another cluster's)."""
    etcd = cluster.topo.by_role("etcd")[0]
    prefix = f"/tiers/{cluster.topo.cluster.name}/"

    def key(k: str) -> str:
        return base64.b64encode(k.encode()).decode()

    everything = {"key": key("\0"), "range_end": key("\0")}
    refused = _etcd(etcd, "kv/range", everything)
    assert "kvs" not in refused and "user name is empty" in refused.get("error", ""), refused
    login = {"name": "patroni", "password": cluster.secrets.etcd_patroni_password}
    token = _etcd(etcd, "auth/authenticate", login)["token"]
    mine = {"key": key(prefix), "range_end": key(prefix[:-1] + "0")}  # every key under the prefix
    got = _etcd(etcd, "kv/range", mine, token)
    assert any(base64.b64decode(kv["key"]).decode() == prefix + "leader" for kv in got["kvs"]), got
    other = _etcd(etcd, "kv/range", {"key": key("/tiers/another-cluster/leader")}, token)
    assert "permission denied" in other.get("error", ""), other


def test_the_private_bucket_cannot_be_read_through_the_filer(cluster: Cluster) -> None:
    """Probe: SeaweedFS's filer and volume HTTP APIs, on the node's address and on 127.0.0.1 (where weed
    also listens), for an object the S3 gateway (access keys) stores and serves."""
    s3, bucket = cluster.topo.one("s3"), cluster.topo.storage.private_bucket
    key = f"least-privilege/{uuid.uuid4().hex}.pdf"
    client = s3_client(cluster)
    client.put_object(Bucket=bucket, Key=key, Body=b"%PDF ticket")
    try:
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"%PDF ticket"
        for host in (s3.address, "127.0.0.1"):
            filer = f"http://{host}:{s3.opt('filer_port')}"
            for path in (f"/buckets/{bucket}/{key}", f"/buckets/{bucket}/", "/buckets/"):
                r = requests.get(filer + path, headers={"Accept": "application/json"}, timeout=5)
                assert r.status_code == 401 and b"ticket" not in r.content, (
                    host,
                    path,
                    r.status_code,
                    r.text,
                )
            write = requests.post(
                f"{filer}/buckets/{bucket}/evil.txt", files={"file": ("e", b"x")}, timeout=5
            )
            assert write.status_code == 401, write.text
        assigned = requests.get(f"http://{s3.address}:{s3.opt('master_port')}/dir/assign", timeout=5).json()
        volume_write = requests.post(
            f"http://{assigned['url']}/{assigned['fid']}", files={"file": ("e", b"x")}, timeout=5
        )
        assert volume_write.status_code == 401, volume_write.text
    finally:
        client.delete_object(Bucket=bucket, Key=key)


def _secret_values(cluster: Cluster) -> dict[str, str]:
    values = {n: getattr(cluster.secrets, n) for n in field_names()}
    return {n: v for n, v in values.items() if len(v) >= 8}


def test_secret_files_are_their_users_only_and_hold_only_their_roles_secrets(cluster: Cluster) -> None:
    """Probe: stat and contents of every rendered file and certificate of the running cluster."""
    values = _secret_values(cluster)
    owners = {f: role_of(n).user for n in cluster.topo for f in _files_of(cluster, n)}
    roles = {f: role_of(n) for n in cluster.topo for f in _files_of(cluster, n)}
    assert cluster.paths.secrets.stat().st_mode & 0o777 == 0o600
    for path in sorted(cluster.paths.conf.iterdir()):
        text = path.read_text(errors="replace")
        held = {n for n, v in values.items() if v in text}
        if not held:
            continue
        st = path.stat()
        assert st.st_mode & 0o777 == 0o600, f"{path.name} holds {sorted(held)} with mode {oct(st.st_mode)}"
        if path.name == "supervisord.conf":
            assert st.st_uid == 0  # the process manager's: every program's environment
            continue
        if path not in roles:
            continue  # a node scaled away left its config (still 0600, as checked above)
        role = roles[path]
        assert held <= role.secrets, f"{path.name} ({role.name}) holds {sorted(held - role.secrets)}"
        assert pwd.getpwuid(st.st_uid).pw_name in (owners[path], "root"), path
    for node in cluster.topo:
        if role_of(node).tls is not None:
            cert = cluster.paths.tls / f"{node.name}.pem"
            st = cert.stat()
            assert st.st_mode & 0o777 == 0o600 and st.st_uid == _uid_of(role_of(node).user), cert


def _files_of(cluster: Cluster, node: Node) -> list[Path]:
    return [cf.path for cf in node_files(cluster.render_context(), node)]


def test_presigned_query_strings_stay_out_of_the_media_log_and_s3_errors_are_plain(cluster: Cluster) -> None:
    """Probe: the media host (nginx) serving a presigned private URL, a tampered one, then its access log."""
    media, bucket = cluster.topo.one("media"), cluster.topo.storage.private_bucket
    key = f"{uuid.uuid4().hex}.pdf"
    client = s3_client(cluster)
    client.put_object(Bucket=bucket, Key=key, Body=b"%PDF ticket")
    try:
        signed = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=60
        )
        query = signed.split("?", 1)[1]
        base = f"http://{media.address}:{media.port}/private/{bucket}/{key}"
        assert requests.get(f"{base}?{query}", timeout=5).content == b"%PDF ticket"
        for bad in (query.replace("X-Amz-Signature=", "X-Amz-Signature=00"), "X-Amz-Algorithm=nope", ""):
            r = requests.get(f"{base}?{bad}", timeout=5)
            assert r.status_code == 404 and r.text == "not found\n", (bad, r.status_code, r.text)
            assert bucket not in r.text and "<Error>" not in r.text
        log = cluster.paths.log_file(media.name).parent / "access.log"
        signature = query.split("X-Amz-Signature=")[1].split("&")[0]
        text = _wait_for_in(log, key)
        assert signature not in text and "X-Amz-Credential" not in text
    finally:
        client.delete_object(Bucket=bucket, Key=key)


def _wait_for_in(log: Path, needle: str) -> str:
    wait_until(lambda: needle in log.read_text(errors="replace"), f"{needle} in {log}", timeout=5)
    return log.read_text(errors="replace")
