"""The cluster's local certificate authority and the certificates it issues (``cryptography``).

Every TLS-terminating node (a role with ``tls``) serves the PEM file its topology names or, by
default, ``<state>/tls/<node>.pem``. A file that is missing, does not cover the node's names, or
expires within :data:`RENEW_BEFORE` is (re)issued here by the cluster's CA, created once in
``<state>/tls/ca.pem`` (+ ``ca.key``, 0600): that CA file is what clients trust (`make up` prints
it). A file the operator's ACME client maintains is left alone once it exists, whoever issued it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..model.paths import StatePaths
from ..model.tls import TLS_CERT_KEY, cert_file, internal_cert_file, internal_tls
from ..model.topology import Node, Topology
from ..model.units import ConfigFile
from ..roles import role_of
from .hosts import ensure_users, write_if_changed

CA_DAYS = 3650
# Under the 398 days browsers accept from public CAs, so the same clients work with either.
LEAF_DAYS = 397
RENEW_BEFORE = dt.timedelta(days=30)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write(path: Path, pem: bytes, mode: int = 0o600, owner: str = "root") -> None:
    """PEM text written atomically with its mode and owner set before it appears (0600: its owner only)."""
    write_if_changed(ConfigFile(path, pem.decode("ascii"), mode, owner))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ensure_ca(paths: StatePaths, cluster: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The cluster's CA, created on first use (P-256 key, 10 years, may sign end-entity certs only)."""
    key_file = paths.tls / "ca.key"
    if paths.ca_cert.exists() and key_file.exists():
        cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tiers"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Tiers local CA ({cluster})"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(key_file, _key_pem(key))
    _write(paths.ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], names: Iterable[str], client: bool = False
) -> tuple[bytes, bytes]:
    """(certificate chain PEM, private key PEM) of a server certificate for ``names`` (``client``: also
    usable as a client certificate, as etcd peers present theirs to each other)."""
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, *([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])]
    ca_cert, ca_key = ca
    names = list(names)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    return chain, _key_pem(key)


def covers(pem: bytes, names: Iterable[str], at: dt.datetime | None = None) -> bool:
    """The first certificate of ``pem`` names every one of ``names`` and is valid past RENEW_BEFORE."""
    try:
        cert = x509.load_pem_x509_certificates(pem)[0]
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, IndexError, x509.ExtensionNotFound):
        return False
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    fresh = cert.not_valid_after_utc - (at or _now()) > RENEW_BEFORE
    return fresh and all(str(_canonical(n)) in have for n in names)


def _canonical(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _ensure(
    paths: StatePaths, cluster: str, target: Path, names: tuple[str, ...], owner: str, client: bool = False
) -> bool:
    """``target`` covers ``names``, issued by the cluster CA if need be, owned by ``owner``; True if issued."""
    ensure_users([owner])
    if target.exists() and covers(target.read_bytes(), names):
        _write(target, target.read_bytes(), owner=owner)  # an older release's root-owned copy
        return False
    chain, key = issue(ensure_ca(paths, cluster), names, client)
    _write(target, chain + key, owner=owner)
    return True


def ensure_certificates(topo: Topology, paths: StatePaths, nodes: Iterable[Node] | None = None) -> set[str]:
    """Issue what is missing for ``nodes`` (default: all); return the programs whose certificate changed."""
    changed: set[str] = set()
    for node in topo if nodes is None else nodes:
        role = role_of(node)
        if role.internal_tls and internal_tls(topo):
            names = (node.address, "localhost")
            target = internal_cert_file(paths, node)
            if _ensure(paths, topo.cluster.name, target, names, role.user, client=True):
                changed.add(node.name)
        if role.tls is None:
            continue
        target = cert_file(paths, node)
        operator_file = bool(node.opt(TLS_CERT_KEY))
        if target.exists() and operator_file:
            continue  # the operator's (ACME's) file: readable by the role's user is theirs to arrange
        # HAProxy and nginx both read the chain and the key from one file, as the node's own user.
        if _ensure(paths, topo.cluster.name, target, role.tls.names(node), role.user):
            changed.add(node.name)
    return changed
