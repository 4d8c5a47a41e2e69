"""Throwaway PKI for the local control plane: a CA, certificates it signs, an SA signing key.

The CA signs the apiserver's serving certificate and the client certificates of the control
plane's other identities (controller manager, scheduler, KWOK), which the apiserver accepts through
``--client-ca-file``: a certificate's common name is the user, its organizations the groups.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LIFETIME = dt.timedelta(days=7)
LOCAL_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path

    @property
    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=True,
        crl_sign=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def _subject_alternative_names(hosts: tuple[str, ...]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _issue(
    pki: Pki,
    directory: Path,
    stem: str,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    hosts: tuple[str, ...] = (),
) -> KeyPair:
    ca_cert = x509.load_pem_x509_certificate(pki.ca_pem)
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + LIFETIME)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if hosts:
        builder = builder.add_extension(_subject_alternative_names(hosts), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    directory.mkdir(parents=True, exist_ok=True)
    return KeyPair(
        cert=_write(directory / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM)),
        key=_write(directory / f"{stem}.key", _key_pem(key), private=True),
    )


def client_certificate(
    pki: Pki, directory: Path, user: str, groups: tuple[str, ...] = ()
) -> KeyPair:
    """A client certificate for ``user`` in ``groups`` (the apiserver's x509 authentication)."""
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    stem = user.replace(":", "-")
    return _issue(pki, directory, stem, x509.Name(attributes), ExtendedKeyUsageOID.CLIENT_AUTH)


def serving_certificate(
    pki: Pki, directory: Path, name: str, hosts: tuple[str, ...] = LOCAL_HOSTS
) -> KeyPair:
    """A serving certificate named ``name`` for ``hosts`` (loopback by default)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return _issue(pki, directory, name, subject, ExtendedKeyUsageOID.SERVER_AUTH, hosts)


def create(directory: Path, hosts: tuple[str, ...] = LOCAL_HOSTS) -> Pki:
    """Write a fresh CA, a serving certificate for ``hosts`` and an RSA SA key to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exoccm-test-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pki = Pki(
        ca_cert=_write(directory / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM)),
        ca_key=_write(directory / "ca.key", _key_pem(ca_key), private=True),
        serving_cert=directory / "apiserver.crt",  # written just below
        serving_key=directory / "apiserver.key",
        sa_key=_write(directory / "sa.key", _key_pem(sa_key), private=True),
    )
    serving_certificate(pki, directory, "apiserver", hosts)
    return pki
