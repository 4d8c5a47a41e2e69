"""Real PKCS#10 certificate requests for the CSR approval tests."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KEY = ec.generate_private_key(ec.SECP256R1())


def kubelet_csr_pem(
    node_name: str,
    *,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    common_name: str | None = None,
    organization: str | None = "system:nodes",
    emails: Sequence[str] = (),
) -> bytes:
    """A serving-certificate request as a kubelet makes it (override parts to break it)."""
    attributes = []
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(
        x509.NameAttribute(NameOID.COMMON_NAME, common_name or f"system:node:{node_name}")
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    names += [x509.RFC822Name(e) for e in emails]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def b64(pem: bytes) -> str:
    return base64.b64encode(pem).decode()
