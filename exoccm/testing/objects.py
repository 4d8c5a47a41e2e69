"""Reading the test ground's Kubernetes objects: admin GETs, and what tests and the demo look for
in Nodes, Pods and Services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exoccm.kube.objects import Obj
from exoccm.testing.controlplane import ControlPlane, ControlPlaneError
from exoccm.testing.nodes import UNINITIALIZED_TAINT
from exoccm.testing.traffic import PODS


def get(plane: ControlPlane, path: str, **params: str) -> Obj | None:
    """The object (or list) at ``path`` as admin; None if it does not exist."""
    with plane.http() as client:
        response = client.get(path, params=params or None)
    if response.status_code == 404:
        return None
    if response.status_code >= 400:
        raise ControlPlaneError(f"GET {path}: {response.status_code} {response.text}")
    result: Obj = response.json()
    return result


def condition(obj: Mapping[str, Any], kind: str) -> Obj | None:
    """The status condition of type ``kind``, if the object reports one."""
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item["type"] == kind:
            found: Obj = item
            return found
    return None


def is_ready(obj: Mapping[str, Any] | None) -> bool:
    found = condition(obj or {}, "Ready")
    return found is not None and found["status"] == "True"


def taint_keys(node: Mapping[str, Any]) -> set[str]:
    return {t["key"] for t in (node.get("spec") or {}).get("taints") or []}


def is_initialized(node: Mapping[str, Any] | None) -> bool:
    """The cloud provider has initialized the Node: providerID set, uninitialized taint gone."""
    return bool(
        node
        and node["spec"].get("providerID")
        and UNINITIALIZED_TAINT["key"] not in taint_keys(node)
    )


def addresses(node: Mapping[str, Any], kind: str) -> list[str]:
    """The Node's addresses of type ``kind`` (``ExternalIP``, ``InternalIP``...)."""
    return [
        str(a["address"])
        for a in (node.get("status") or {}).get("addresses") or []
        if a["type"] == kind
    ]


def ingress_ip(service: Mapping[str, Any] | None) -> str | None:
    """The Service's EXTERNAL-IP (its first load-balancer ingress IP), if it has one."""
    ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress")
    return str(ingress[0]["ip"]) if ingress else None


def running_pods(plane: ControlPlane, namespace: str, selector: str) -> list[Obj]:
    """The Pods matching the label ``selector`` that run and are not being deleted."""
    listing = get(plane, PODS.path(namespace), labelSelector=selector) or {}
    return [
        pod
        for pod in listing.get("items", [])
        if pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")
    ]
