"""The cluster's local CA: certificates that verify, cover the node's names, and are issued only once."""

from __future__ import annotations

import datetime as dt
import json
import ssl
from pathlib import Path

from cryptography import x509

from deploy.commands import pki
from deploy.model.paths import StatePaths
from deploy.model.secrets import load_or_create
from deploy.model.tls import cert_file
from deploy.roles import loads
from tests.unit.fixtures import SMALL


def test_issued_chain_verifies_against_the_ca_for_every_name(tmp_path: Path) -> None:
    paths = StatePaths(root=tmp_path)
    chain, key = pki.issue(pki.ensure_ca(paths, "unit"), ["127.9.0.1", "shop.example.com", "localhost"])
    leaf = x509.load_pem_x509_certificates(chain)[0]
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    leaf.verify_directly_issued_by(ca)
    assert pki.covers(chain, ["127.9.0.1", "shop.example.com"])
    assert not pki.covers(chain, ["other.example.com"])
    # Python's own TLS stack accepts the pair, as HAProxy and nginx read it: chain, then key.
    pem = tmp_path / "node.pem"
    pem.write_bytes(chain + key)
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(pem)
    ssl.create_default_context(cafile=str(paths.ca_cert))  # the CA file loads as a trust anchor


def test_a_certificate_near_expiry_is_not_good_enough(tmp_path: Path) -> None:
    chain, _ = pki.issue(pki.ensure_ca(StatePaths(root=tmp_path), "unit"), ["localhost"])
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=pki.LEAF_DAYS - 10)
    assert pki.covers(chain, ["localhost"])
    assert not pki.covers(chain, ["localhost"], at=later)


def test_ensure_issues_once_per_tls_node_and_keeps_the_ca(tmp_path: Path) -> None:
    topo = loads(SMALL, "small.toml")
    paths = StatePaths(root=tmp_path)
    # s3 serves the S3 API over TLS too (pgBackRest speaks S3 over HTTPS only).
    assert pki.ensure_certificates(topo, paths) == {"lb", "media", "s3"}
    ca = paths.ca_cert.read_bytes()
    lb_pem = cert_file(paths, topo.one("lb"))
    assert lb_pem == tmp_path / "tls" / "lb.pem"
    assert oct(lb_pem.stat().st_mode & 0o777) == "0o600"
    assert pki.ensure_certificates(topo, paths) == set()
    assert paths.ca_cert.read_bytes() == ca
    # A new name for the site (public_host) gets a new certificate from the same CA.
    renamed = loads(
        SMALL.replace('address = "127.9.0.1"', 'address = "127.9.0.1"\npublic_host = "a.example"')
    )
    assert pki.ensure_certificates(renamed, paths) == {"lb"}
    assert pki.covers(lb_pem.read_bytes(), ["a.example", "127.9.0.1"])
    assert paths.ca_cert.read_bytes() == ca


def test_an_operator_file_is_left_alone_once_it_exists(tmp_path: Path) -> None:
    site = tmp_path / "etc" / "site.pem"
    text = SMALL.replace('address = "127.9.0.1"', f'address = "127.9.0.1"\ntls_cert = "{site}"')
    topo = loads(text)
    paths = StatePaths(root=tmp_path / "state")
    # Missing: a placeholder from the local CA so HAProxy can start before the ACME client's first run.
    assert "lb" in pki.ensure_certificates(topo, paths)
    site.write_text("from the ACME client")
    assert "lb" not in pki.ensure_certificates(topo, paths)
    assert site.read_text() == "from the ACME client"


def test_an_older_secrets_file_gains_the_stats_password(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    old = {k: v for k, v in json.loads(json.dumps(load_or_create(path).__dict__)).items()}
    del old["lb_stats_password"]
    path.write_text(json.dumps(old))
    again = load_or_create(path)
    assert len(again.lb_stats_password) >= 20
    assert again.db_app_password == old["db_app_password"]
    assert json.loads(path.read_text())["lb_stats_password"] == again.lb_stats_password
