"""What the test ground's stand-ins for kube-proxy and for Pods should serve, read from plain
Kubernetes objects (pure: no I/O).

kube-proxy, for each Node: every NodePort of every Service forwards to the Service's ready
endpoints (from its EndpointSlices); with ``externalTrafficPolicy: Local`` only to endpoints on
that Node, and the Service's ``healthCheckNodePort`` answers how many there are. The semantics
follow kube-proxy's (``pkg/proxy`` in kubernetes/kubernetes): an endpoint whose ``ready``
condition is unset counts as ready; the health answer is 200 with local endpoints, 503 without.

Pods: each Running Pod with a Pod IP and a container of :data:`WEBSITE_IMAGE` serves the
website on that container's port (80 when it declares none).

Pod IPs are ordinary private addresses (the apiserver refuses loopback ones in EndpointSlices);
what listens for a Pod does so on the loopback address carrying its IP
(:class:`~exoccm.testing.podnet.PodNetwork`), and nothing is ever sent to the Pod IP itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Obj = Mapping[str, Any]

WEBSITE_IMAGE = "hello-corp/website:latest"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def website_container(image: str = WEBSITE_IMAGE, port: int = 80) -> dict[str, Any]:
    """The website's container as the seed story's manifests declare it."""
    return {"name": "website", "image": image, "ports": [{"containerPort": port}]}


def is_loopback(address: str) -> bool:
    """Whether ``address`` is an IPv4 address in 127.0.0.0/8 (the only place traffic goes)."""
    try:
        return ipaddress.IPv4Address(address).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int
    node: str | None


@dataclass(frozen=True, slots=True)
class PortRoute:
    """Where a NodePort's connections go (already limited to local endpoints if need be)."""

    service: str  # namespace/name
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True, slots=True)
class HealthRoute:
    """A ``healthCheckNodePort`` and what it reports on this Node."""

    namespace: str
    name: str
    local_endpoints: int


@dataclass(frozen=True, slots=True)
class NodePlan:
    node: str
    address: str | None  # None: no loopback ExternalIP or InternalIP, so nothing can listen
    ports: Mapping[int, PortRoute] = field(default_factory=dict)
    health: Mapping[int, HealthRoute] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Site:
    """A website Pod: where it listens and how it names itself in ``X-Served-By``."""

    namespace: str
    pod: str
    ip: str
    port: int

    @property
    def served_by(self) -> str:
        return f"{self.ip}:{self.port}@{self.pod}"


def node_address(node: Obj) -> str | None:
    """The Node's ExternalIP, else its InternalIP, if it is a loopback address."""
    addresses = (node.get("status") or {}).get("addresses") or []
    for wanted in ("ExternalIP", "InternalIP"):
        for address in addresses:
            if address.get("type") == wanted:
                return str(address["address"]) if is_loopback(str(address["address"])) else None
    return None


def node_plans(
    nodes: Iterable[Obj], services: Iterable[Obj], slices: Iterable[Obj]
) -> dict[str, NodePlan]:
    """Each Node's NodePort routes and health-check ports."""
    by_service: dict[tuple[str, str], list[Obj]] = {}
    for endpoint_slice in slices:
        meta = endpoint_slice["metadata"]
        owner = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if owner and endpoint_slice.get("addressType", "IPv4") == "IPv4":
            by_service.setdefault((meta.get("namespace", ""), owner), []).append(endpoint_slice)
    exposed = [
        s for s in services if (s.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer")
    ]
    plans = {}
    for node in nodes:
        name = str(node["metadata"]["name"])
        ports: dict[int, PortRoute] = {}
        health: dict[int, HealthRoute] = {}
        for service in exposed:
            meta, spec = service["metadata"], service["spec"]
            namespace = meta.get("namespace", "")
            local_only = spec.get("externalTrafficPolicy") == "Local"
            service_slices = by_service.get((namespace, meta["name"]), [])
            for port in spec.get("ports") or []:
                if not port.get("nodePort") or port.get("protocol", "TCP") != "TCP":
                    continue
                endpoints = _ready_endpoints(service_slices, port.get("name") or "")
                if local_only:
                    endpoints = [e for e in endpoints if e.node == name]
                ports[int(port["nodePort"])] = PortRoute(
                    f"{namespace}/{meta['name']}", tuple(endpoints)
                )
            if (
                local_only
                and spec.get("type") == "LoadBalancer"
                and spec.get("healthCheckNodePort")
            ):
                local = {e.ip for e in _ready_endpoints(service_slices, None) if e.node == name}
                health[int(spec["healthCheckNodePort"])] = HealthRoute(
                    namespace, str(meta["name"]), len(local)
                )
        plans[name] = NodePlan(name, node_address(node), ports, health)
    return plans


def _ready_endpoints(slices: Iterable[Obj], port_name: str | None) -> list[Endpoint]:
    """Ready endpoints of the slices for the Service port named ``port_name`` (None: any)."""
    found: list[Endpoint] = []
    for endpoint_slice in sorted(slices, key=lambda s: str(s["metadata"]["name"])):
        numbers = [
            int(p["port"])
            for p in endpoint_slice.get("ports") or []
            if p.get("port") is not None
            and p.get("protocol", "TCP") == "TCP"
            and (port_name is None or (p.get("name") or "") == port_name)
        ]
        if not numbers:
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            node = endpoint.get("nodeName")
            found.extend(
                Endpoint(str(a), numbers[0], node) for a in endpoint.get("addresses") or []
            )
    return found


def website_sites(pods: Iterable[Obj]) -> dict[tuple[str, str], Site]:
    """The website Pods that should be serving, by (namespace, name)."""
    sites = {}
    for pod in pods:
        status = pod.get("status") or {}
        if status.get("phase") != "Running" or not status.get("podIP"):
            continue
        if (pod["metadata"].get("deletionTimestamp")) is not None:
            continue
        for container in (pod.get("spec") or {}).get("containers") or []:
            if container.get("image") != WEBSITE_IMAGE:
                continue
            declared = [
                int(p["containerPort"])
                for p in container.get("ports") or []
                if p.get("protocol", "TCP") == "TCP"
            ]
            meta = pod["metadata"]
            key = (str(meta.get("namespace", "")), str(meta["name"]))
            sites[key] = Site(key[0], key[1], str(status["podIP"]), declared[0] if declared else 80)
            break
    return sites
