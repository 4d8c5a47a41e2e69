"""Build and create Node objects with status, since there is no kubelet in the test ground."""

from __future__ import annotations

from typing import Any

from exoccm.kube.resources import NODES
from exoccm.testing.controlplane import ControlPlane, ControlPlaneError

UNINITIALIZED_TAINT = {
    "key": "node.cloudprovider.kubernetes.io/uninitialized",
    "value": "true",
    "effect": "NoSchedule",
}


def node_manifest(
    name: str,
    *,
    system_uuid: str = "",
    addresses: list[tuple[str, str]] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    provider_id: str | None = None,
    uninitialized: bool = False,
    ready: bool = True,
) -> dict[str, Any]:
    """A Node as a kubelet would register it; ``addresses`` are ``(type, address)`` pairs."""
    spec: dict[str, Any] = {}
    if provider_id:
        spec["providerID"] = provider_id
    if uninitialized:
        spec["taints"] = [dict(UNINITIALIZED_TAINT)]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            "annotations": dict(annotations or {}),
        },
        "spec": spec,
        "status": {
            "addresses": [{"type": t, "address": a} for t, a in (addresses or [])],
            "nodeInfo": {
                "systemUUID": system_uuid,
                "machineID": system_uuid.replace("-", ""),
                "bootID": "",
                "kernelVersion": "6.1.0",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.0",
                "kubeletVersion": "v1.37.2",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "KubeletReady" if ready else "KubeletNotReady",
                    "message": "",
                    "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
        },
    }


def create_node(plane: ControlPlane, manifest: dict[str, Any]) -> dict[str, Any]:
    """Create the Node, then write its status through the status subresource."""
    status = manifest.get("status", {})
    with plane.http() as client:
        created = client.post(NODES.path(), json=manifest)
        if created.status_code >= 400:
            raise ControlPlaneError(f"create node: {created.status_code} {created.text}")
        name = manifest["metadata"]["name"]
        patched = client.patch(
            NODES.path(name=name, subresource="status"),
            json={"status": status},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if patched.status_code >= 400:
            raise ControlPlaneError(f"patch node status: {patched.status_code} {patched.text}")
        result: dict[str, Any] = patched.json()
        return result


def delete_node(plane: ControlPlane, name: str) -> None:
    with plane.http() as client:
        response = client.delete(NODES.path(name=name))
        if response.status_code not in (200, 404):
            raise ControlPlaneError(f"delete node: {response.status_code} {response.text}")
