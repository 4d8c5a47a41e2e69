"""What the informers keep of Services and Nodes: only the fields the controllers read.

Memory is dominated by cached objects, so each is projected at ingest to a small dict (plus
``kind`` and ``apiVersion``, which Events need). Services that are not load balancers keep
just enough to notice a finalizer to clean up. The strings a projection keeps are interned, so
that the values thousands of objects repeat (label values, namespaces, types, timestamps of a
burst of creations, a Node's name as its hostname label and address) are stored once.
"""

from __future__ import annotations

from sys import intern
from typing import Any, TypeVar

from exoccm.controllers.node.metadata import PROVIDED_NODE_IP
from exoccm.controllers.service.annotations import PREFIX
from exoccm.controllers.service.records import CONDITION_TYPE as RECORD_CONDITION
from exoccm.kube.objects import Obj

_IDENTITY = ("name", "namespace", "uid", "resourceVersion", "deletionTimestamp", "finalizers")
# Claimants of one NLB are ranked by age (controllers/service/ownership.py).
_SERVICE_IDENTITY = (*_IDENTITY, "creationTimestamp")
_SERVICE_SPEC = (
    "type",
    "loadBalancerClass",
    "externalTrafficPolicy",
    "healthCheckNodePort",
    "allocateLoadBalancerNodePorts",
)
_PORT_FIELDS = ("name", "protocol", "port", "nodePort")


def _identity(meta: dict[str, Any], keys: tuple[str, ...] = _IDENTITY) -> dict[str, Any]:
    return {k: meta[k] for k in keys if k in meta}


Tree = TypeVar("Tree")


def share_strings(tree: Tree) -> Tree:
    """``tree`` with every string value in its dicts and lists interned, changed in place.

    CPython drops an interned string once nothing else refers to it, so values seen once (a
    resourceVersion) cost nothing lasting. Keys are left alone: the JSON decoder already shares
    them."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if isinstance(value, str):
                tree[key] = intern(value)
            elif isinstance(value, dict | list):
                share_strings(value)
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            if isinstance(value, str):
                tree[index] = intern(value)
            elif isinstance(value, dict | list):
                share_strings(value)
    return tree


def project_service(obj: Obj) -> Obj:
    return share_strings(_project_service(obj))


def project_node(obj: Obj) -> Obj:
    return share_strings(_project_node(obj))


def _project_service(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    projected_meta = _identity(meta, _SERVICE_IDENTITY)
    out: Obj = {"kind": "Service", "apiVersion": "v1", "metadata": projected_meta}
    is_lb = spec.get("type") == "LoadBalancer"
    out["spec"] = {k: spec[k] for k in _SERVICE_SPEC if k in spec}
    if not is_lb and not meta.get("finalizers"):
        return out
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith(PREFIX)}
    if annotations:
        projected_meta["annotations"] = annotations
    out["spec"]["ports"] = [
        {k: port[k] for k in _PORT_FIELDS if k in port} for port in spec.get("ports") or []
    ]
    status = obj.get("status") or {}
    out_status: Obj = {}
    if status.get("loadBalancer"):
        out_status["loadBalancer"] = status["loadBalancer"]
    ours = [c for c in status.get("conditions") or [] if c.get("type") == RECORD_CONDITION]
    if ours:
        out_status["conditions"] = ours
    if out_status:
        out["status"] = out_status
    return out


def _project_node(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    projected_meta = _identity(meta)
    if meta.get("labels"):
        projected_meta["labels"] = dict(meta["labels"])
    provided = (meta.get("annotations") or {}).get(PROVIDED_NODE_IP)
    if provided:
        projected_meta["annotations"] = {PROVIDED_NODE_IP: provided}
    out_spec = {k: spec[k] for k in ("providerID", "taints") if k in spec}
    node_info = status.get("nodeInfo") or {}
    out_status: Obj = {"addresses": status.get("addresses") or []}
    if node_info.get("systemUUID"):
        out_status["nodeInfo"] = {"systemUUID": node_info["systemUUID"]}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is not None:
        out_status["conditions"] = [{"type": "Ready", "status": ready.get("status")}]
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": projected_meta,
        "spec": out_spec,
        "status": out_status,
    }
