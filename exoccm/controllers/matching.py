"""Which instance a Node runs on, and which Nodes may receive load-balancer traffic. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exoccm.controllers.inventory import InstanceIndex
from exoccm.controllers.node.metadata import instance_id_from_provider_id
from exoccm.exoscale.models import Instance

EXCLUDE_FROM_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"


def node_ips(node: Mapping[str, Any]) -> list[str]:
    addresses = ((node.get("status") or {}).get("addresses")) or []
    return [
        str(a["address"])
        for a in addresses
        if a.get("type") in ("ExternalIP", "InternalIP") and a.get("address")
    ]


def find_instance(node: Mapping[str, Any], index: InstanceIndex) -> Instance | None:
    """By providerID, else by ``status.nodeInfo.systemUUID`` (= instance ID), else by IP."""
    spec = node.get("spec") or {}
    instance_id = instance_id_from_provider_id(spec.get("providerID"))
    if instance_id is not None:
        return index.by_id.get(instance_id)
    system_uuid = str(((node.get("status") or {}).get("nodeInfo") or {}).get("systemUUID") or "")
    if system_uuid:
        found = index.by_id.get(system_uuid.lower())
        if found is not None:
            return found
    for ip in node_ips(node):
        found = index.by_ip.get(ip)
        if found is not None:
            return found
    return None


def eligible_for_load_balancing(node: Mapping[str, Any]) -> bool:
    """The upstream service controller's node predicate (readiness is deliberately not one)."""
    meta = node.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return False
    labels = meta.get("labels") or {}
    if EXCLUDE_FROM_LB_LABEL in labels and str(labels[EXCLUDE_FROM_LB_LABEL]).lower() != "false":
        return False  # "true" or anything unparsable excludes, as upstream
    taints = (node.get("spec") or {}).get("taints") or []
    return not any(t.get("key") == TO_BE_DELETED_TAINT for t in taints)
