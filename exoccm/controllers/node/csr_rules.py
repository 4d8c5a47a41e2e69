"""Whether a kubelet-serving CertificateSigningRequest may be approved. Pure.

The Go CCM's rules (groups ``system:nodes`` and ``system:authenticated``, exactly one DNS SAN equal
to the instance name ignoring case, every IP SAN an address of the instance), plus what it left
to RBAC and the signer: the signer must be ``kubernetes.io/kubelet-serving``, the requester
``system:node:<name>``, and the request must be one the kubelet-serving signer would sign
(subject ``O=system:nodes``, ``CN=system:node:<name>``, no e-mail or URI SANs, usages
``digital signature`` + ``server auth`` with optional ``key encipherment``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exoccm.controllers.node.state import provided_node_ips
from exoccm.exoscale.models import Instance

if TYPE_CHECKING:
    # Imported where used: cryptography costs ~10 MB of RSS, and CSR approval is opt-in.
    from cryptography import x509

KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
NODE_USER_PREFIX = "system:node:"
REQUIRED_GROUPS = ("system:nodes", "system:authenticated")
NODES_ORGANIZATION = "system:nodes"
ALLOWED_USAGE_SETS = (
    frozenset({"digital signature", "key encipherment", "server auth"}),
    frozenset({"digital signature", "server auth"}),
)
APPROVAL_REASON = "ExoscaleCloudControllerApproved"
APPROVAL_MESSAGE = "This CSR was approved by the Exoscale Cloud Controller Manager"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ServingRequest:
    """What the kubelet asks to be certified for."""

    node_name: str
    dns_name: str
    ip_addresses: tuple[IpAddress, ...]


def spec_of(csr: Mapping[str, Any]) -> Mapping[str, Any]:
    return csr.get("spec") or {}


def is_decided(csr: Mapping[str, Any]) -> bool:
    """Approved, denied or failed already: any condition means someone decided."""
    return bool((csr.get("status") or {}).get("conditions"))


def is_kubelet_serving(csr: Mapping[str, Any]) -> bool:
    return spec_of(csr).get("signerName") == KUBELET_SERVING_SIGNER


def review_request(csr: Mapping[str, Any]) -> tuple[ServingRequest | None, list[str]]:
    """The request of a kubelet-serving CSR, or None and why it can never be approved."""
    from cryptography import x509

    spec = spec_of(csr)
    problems: list[str] = []
    username = str(spec.get("username") or "")
    node_name = username[len(NODE_USER_PREFIX) :] if username.startswith(NODE_USER_PREFIX) else ""
    if not node_name:
        problems.append(f"requested by {username!r}, not by a node (system:node:<name>)")
    groups = set(spec.get("groups") or [])
    missing = [group for group in REQUIRED_GROUPS if group not in groups]
    if missing:
        problems.append(f"requester lacks group(s) {', '.join(missing)}")
    usages = frozenset(spec.get("usages") or [])
    if usages not in ALLOWED_USAGE_SETS:
        problems.append(
            f"usages {sorted(usages)} are not digital signature + server auth "
            "(+ optional key encipherment)"
        )
    parsed, parse_problem = _parse(spec.get("request"))
    if parsed is None:
        problems.append(parse_problem)
        return None, problems
    problems += _subject_problems(parsed, username)
    sans = _sans(parsed)
    dns_names = sans.get_values_for_type(x509.DNSName) if sans else []
    ips = sans.get_values_for_type(x509.IPAddress) if sans else []
    if len(dns_names) != 1:
        problems.append(f"expected exactly 1 DNS name SAN, got {len(dns_names)}")
    if sans and (
        sans.get_values_for_type(x509.RFC822Name)
        or sans.get_values_for_type(x509.UniformResourceIdentifier)
    ):
        problems.append("e-mail and URI SANs are not allowed in a kubelet serving certificate")
    if problems:
        return None, problems
    addresses = tuple(ip for ip in ips if isinstance(ip, IpAddress))
    return ServingRequest(node_name, dns_names[0], addresses), []


def _parse(request: object) -> tuple[x509.CertificateSigningRequest | None, str]:
    from cryptography import x509

    try:
        pem = base64.b64decode(str(request or ""), validate=True)
    except (binascii.Error, ValueError):
        return None, "spec.request is not base64"
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in pem:
        return None, "spec.request is not a PEM CERTIFICATE REQUEST"
    try:
        parsed = x509.load_pem_x509_csr(pem)
    except ValueError as exc:
        return None, f"the PEM certificate request does not parse: {exc}"
    if not parsed.is_signature_valid:
        return None, "the certificate request's signature is invalid"
    return parsed, ""


def _sans(parsed: x509.CertificateSigningRequest) -> x509.SubjectAlternativeName | None:
    from cryptography import x509

    try:
        return parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _subject_problems(parsed: x509.CertificateSigningRequest, username: str) -> list[str]:
    from cryptography.x509.oid import NameOID

    common_names = [
        str(a.value) for a in parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    ]
    organizations = [
        str(a.value) for a in parsed.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    ]
    problems = []
    if common_names != [username]:
        problems.append(f"subject CN {common_names} is not the requester {username!r}")
    if organizations != [NODES_ORGANIZATION]:
        problems.append(f"subject O {organizations} is not [{NODES_ORGANIZATION!r}]")
    return problems


def allowed_ips(instance: Instance, node: Mapping[str, Any] | None) -> set[IpAddress]:
    """Public IPv4, IPv6, and the kubelet's ``--node-ip`` when the instance has a private
    network (the API does not know private addresses)."""
    values: list[str] = [ip for ip in (instance.public_ip, instance.ipv6_address) if ip]
    if instance.private_networks and node is not None:
        values += provided_node_ips(node)
    return set(_ips(values))


def _ips(values: Iterable[str]) -> Iterable[IpAddress]:
    for value in values:
        try:
            yield ipaddress.ip_address(value)
        except ValueError:
            continue


def instance_problems(
    request: ServingRequest, instance: Instance, node: Mapping[str, Any] | None
) -> list[str]:
    """Why ``request`` does not match ``instance`` (empty: it matches)."""
    problems = []
    if request.dns_name.casefold() != instance.name.casefold():
        problems.append(f"DNS SAN {request.dns_name!r} is not the instance name {instance.name!r}")
    allowed = allowed_ips(instance, node)
    foreign = [str(ip) for ip in request.ip_addresses if ip not in allowed]
    if foreign:
        problems.append(
            f"IP SAN(s) {', '.join(foreign)} are not addresses of instance {instance.id} "
            f"({', '.join(sorted(map(str, allowed))) or 'none'}); Node IP addresses don't match"
        )
    return problems


def approved_condition(now: str) -> dict[str, str]:
    return {
        "type": "Approved",
        "status": "True",
        "reason": APPROVAL_REASON,
        "message": APPROVAL_MESSAGE,
        "lastUpdateTime": now,
    }
