"""Running Pods and their EndpointSlices, made by hand on a bare apiserver.

Without kube-scheduler, a kubelet and the EndpointSlice controller, nothing runs a Pod or
publishes its endpoints; these helpers write what those would: a Pod bound to a Node, Running
with a Pod IP (through the status subresource), and the Service's EndpointSlice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from exoccm.testing.cluster_state import SERVICE_NAME_LABEL, WEBSITE_IMAGE, website_container
from exoccm.testing.controlplane import ControlPlane, ControlPlaneError
from exoccm.testing.traffic import ENDPOINT_SLICES, PODS

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@dataclass(frozen=True)
class RunningPod:
    namespace: str
    name: str
    node: str
    ip: str
    port: int = 80


def pod_manifest(
    name: str, node: str, *, labels: dict[str, str], image: str = WEBSITE_IMAGE, port: int = 80
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "nodeName": node,
            "containers": [website_container(image, port)],
        },
    }


def create_running_pod(
    plane: ControlPlane,
    namespace: str,
    name: str,
    *,
    node: str,
    ip: str,
    labels: dict[str, str],
    image: str = WEBSITE_IMAGE,
    port: int = 80,
) -> RunningPod:
    """A Pod on ``node``, then Running and Ready with Pod IP ``ip`` as its kubelet would say."""
    status = {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    with plane.http() as client:
        created = client.post(
            PODS.path(namespace),
            json=pod_manifest(name, node, labels=labels, image=image, port=port),
        )
        if created.status_code >= 400:
            raise ControlPlaneError(f"create pod {name}: {created.status_code} {created.text}")
        patched = client.patch(
            PODS.path(namespace, name, "status"), json={"status": status}, headers=MERGE_PATCH
        )
        if patched.status_code >= 400:
            raise ControlPlaneError(f"pod {name} status: {patched.status_code} {patched.text}")
    return RunningPod(namespace, name, node, ip, port)


def delete_pod(plane: ControlPlane, pod: RunningPod) -> None:
    with plane.http() as client:
        # No kubelet will confirm the termination: delete at once.
        response = client.delete(
            PODS.path(pod.namespace, pod.name), params={"gracePeriodSeconds": 0}
        )
        if response.status_code not in (200, 404):
            raise ControlPlaneError(
                f"delete pod {pod.name}: {response.status_code} {response.text}"
            )


def publish_endpoints(
    plane: ControlPlane,
    namespace: str,
    service: str,
    pods: Iterable[RunningPod],
    *,
    port_name: str = "http",
    ready: bool = True,
) -> dict[str, Any]:
    """The Service's EndpointSlice (created or replaced) listing ``pods`` as its endpoints."""
    pods = list(pods)
    numbers = {pod.port for pod in pods} or {80}
    if len(numbers) != 1:
        raise ValueError(f"one EndpointSlice lists one port; the pods use {sorted(numbers)}")
    body: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{service}-by-hand", "labels": {SERVICE_NAME_LABEL: service}},
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": numbers.pop(), "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [pod.ip],
                "nodeName": pod.node,
                "conditions": {"ready": ready},
                "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod.name},
            }
            for pod in pods
        ],
    }
    name = body["metadata"]["name"]
    with plane.http() as client:
        response = client.post(ENDPOINT_SLICES.path(namespace), json=body)
        if response.status_code == 409:
            current = client.get(ENDPOINT_SLICES.path(namespace, name)).json()
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            response = client.put(ENDPOINT_SLICES.path(namespace, name), json=body)
        if response.status_code >= 400:
            raise ControlPlaneError(f"EndpointSlice {name}: {response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result
