"""Reading a Node (a raw or projected dict): taints, readiness, addresses, identifiers. Pure."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from exoccm.controllers.node.metadata import PROVIDED_NODE_IP, Address

Taint = dict[str, Any]

UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"
SHUTDOWN_TAINT = "node.cloudprovider.kubernetes.io/shutdown"


def spec_of(node: Mapping[str, Any]) -> Mapping[str, Any]:
    value = node.get("spec")
    return value if isinstance(value, Mapping) else {}


def status_of(node: Mapping[str, Any]) -> Mapping[str, Any]:
    value = node.get("status")
    return value if isinstance(value, Mapping) else {}


def node_name(node: Mapping[str, Any]) -> str:
    return str((node.get("metadata") or {}).get("name", ""))


def node_labels(node: Mapping[str, Any]) -> Mapping[str, str]:
    return (node.get("metadata") or {}).get("labels") or {}


def node_annotations(node: Mapping[str, Any]) -> Mapping[str, str]:
    return (node.get("metadata") or {}).get("annotations") or {}


def provider_id_of(node: Mapping[str, Any]) -> str:
    return str(spec_of(node).get("providerID") or "")


def system_uuid_of(node: Mapping[str, Any]) -> str:
    return str((status_of(node).get("nodeInfo") or {}).get("systemUUID") or "")


def taints_of(node: Mapping[str, Any]) -> list[Taint]:
    return list(spec_of(node).get("taints") or [])


def has_taint(node: Mapping[str, Any], key: str) -> bool:
    return any(t.get("key") == key for t in taints_of(node))


def is_uninitialized(node: Mapping[str, Any]) -> bool:
    return has_taint(node, UNINITIALIZED_TAINT)


def without_taint(taints: Sequence[Taint], key: str) -> list[Taint]:
    return [t for t in taints if t.get("key") != key]


def is_ready(node: Mapping[str, Any]) -> bool:
    """Whether the kubelet reports Ready=True (Unknown and missing count as not ready)."""
    conditions = status_of(node).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def addresses_of(node: Mapping[str, Any]) -> tuple[Address, ...]:
    return tuple(
        (str(a.get("type", "")), str(a.get("address", "")))
        for a in status_of(node).get("addresses") or []
    )


def provided_node_ips(node: Mapping[str, Any]) -> list[str]:
    """The kubelet's ``--node-ip`` (one, or two comma-separated for dual stack)."""
    value = node_annotations(node).get(PROVIDED_NODE_IP) or ""
    return [ip.strip() for ip in value.split(",") if ip.strip()]


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID in canonical (lower-case) text form, as the API writes IDs."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
