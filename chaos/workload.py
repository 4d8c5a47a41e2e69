"""Service churn: seeded creates, updates and deletes of LoadBalancer Services.

Updates touch what the NLB must follow: ports (added, removed, renumbered), NodePorts, the type
(LoadBalancer to ClusterIP and back), the zone (to the other zone and back) and the annotations
strategy, health-check interval and retries, and description. Every request goes to the real
apiserver as an admin; a request that fails (the apiserver may be restarting) is counted and
skipped, never retried blindly.

Zone moves and type switches are the only changes after which a Service's IP may change; the
workload counts them per Service for the checks. Services the hostile tenant picked as victims
are *frozen*: never changed again, so that any later write to their NLB is someone else's.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from exoccm.kube.objects import Obj
from exoccm.kube.resources import SERVICES
from exoccm.testing.services import service_port

PREFIX = "service.beta.kubernetes.io/exoscale-loadbalancer-"
STRATEGY = PREFIX + "service-strategy"
INTERVAL = PREFIX + "service-healthcheck-interval"
RETRIES = PREFIX + "service-healthcheck-retries"
DESCRIPTION = PREFIX + "description"
ZONE = PREFIX + "zone"

STRATEGIES = ("round-robin", "source-hash", "maglev-hash")
INTERVALS = ("5s", "10s", "15s", "30s", "1m")
TCP_PORTS = (80, 443, 8080, 8443, 9000, 5432)
UDP_PORTS = (53, 5353)
NODE_PORTS = (30000, 32767)
MAX_PORTS = 4

MERGE = {"Content-Type": "application/merge-patch+json"}


@dataclass
class Workload:
    """The Services of a campaign and what was done to them."""

    http: httpx.Client
    rng: random.Random
    namespaces: tuple[str, ...]
    target: int
    zones: tuple[str, ...]  # the default zone first
    created: list[tuple[str, str]] = field(default_factory=list)
    deleted: set[tuple[str, str]] = field(default_factory=set)
    cluster_ip: set[tuple[str, str]] = field(default_factory=set)  # switched away from LB
    frozen: set[tuple[str, str]] = field(default_factory=set)  # victims: never changed again
    moves_asked: Counter[tuple[str, str]] = field(default_factory=Counter)
    switches_asked: Counter[tuple[str, str]] = field(default_factory=Counter)  # to ClusterIP
    counts: Counter[str] = field(default_factory=Counter)
    kube_errors: Counter[str] = field(default_factory=Counter)
    _serial: int = 0

    @property
    def live(self) -> list[tuple[str, str]]:
        return [s for s in self.created if s not in self.deleted]

    def changeable(self) -> list[tuple[str, str]]:
        return [s for s in self.live if s not in self.frozen]

    # -- one step -----------------------------------------------------------------------------

    def step(self) -> str:
        """One random action; a line for the progress log."""
        live = self.live
        changeable = self.changeable()
        roll = self.rng.random()
        if len(live) < self.target and (roll < 0.5 or len(changeable) < 2):
            return self.create()
        if roll < 0.15 and len(live) > self.target // 2:
            return self.delete(self.rng.choice(changeable))
        return self.update(self.rng.choice(changeable))

    def create(self) -> str:
        self._serial += 1
        namespace = self.rng.choice(self.namespaces)
        name = f"svc-{self._serial:03d}"
        ports = [service_port(*self._free_port([]))]
        while len(ports) < 3 and self.rng.random() < 0.35:
            ports.append(service_port(*self._free_port(ports)))
        annotations = {}
        if self.rng.random() < 0.4:
            annotations[STRATEGY] = self.rng.choice(STRATEGIES)
        if self.rng.random() < 0.4:
            annotations[INTERVAL] = self.rng.choice(INTERVALS)
        if self.rng.random() < 0.3:
            annotations[DESCRIPTION] = f"chaos service {self._serial}"
        if len(self.zones) > 1 and self.rng.random() < 0.2:
            annotations[ZONE] = self.rng.choice(self.zones[1:])
        body = {
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": ports},
        }
        self.counts["create"] += 1
        if not self._request("create", "POST", SERVICES.path(namespace), json=body):
            return f"create {namespace}/{name} failed"
        self.created.append((namespace, name))
        described = ",".join(f"{p['port']}/{p['protocol']}" for p in ports)
        return f"create {namespace}/{name} ports={described} annotations={len(annotations)}"

    def delete(self, service: tuple[str, str]) -> str:
        self.counts["delete"] += 1
        namespace, name = service
        if self._request("delete", "DELETE", SERVICES.path(namespace, name)):
            self.deleted.add(service)
            self.cluster_ip.discard(service)
            return f"delete {namespace}/{name}"
        return f"delete {namespace}/{name} failed"

    def update(self, service: tuple[str, str]) -> str:
        namespace, name = service
        current = self._get(namespace, name)
        if current is None:
            return f"update {namespace}/{name} skipped (could not read it)"
        if service in self.cluster_ip:
            kind, patch = "type-loadbalancer", {"spec": {"type": "LoadBalancer"}}
        else:
            kind, patch = self._random_change(current)
        self.counts[f"update:{kind}"] += 1
        path = SERVICES.path(namespace, name)
        if not self._request(kind, "PATCH", path, json=patch, headers=MERGE):
            return f"update {namespace}/{name} {kind} failed"
        if kind == "type-clusterip":
            self.cluster_ip.add(service)
            self.switches_asked[service] += 1
        elif kind == "type-loadbalancer":
            self.cluster_ip.discard(service)
        elif kind == "zone":
            self.moves_asked[service] += 1
            return f"update {namespace}/{name} zone {self.zone_of(patch)}"
        return f"update {namespace}/{name} {kind}"

    def zone_of(self, service: Obj) -> str:
        """The zone a Service (or a patch of its annotations) asks for."""
        annotations = (service.get("metadata") or {}).get("annotations") or {}
        return annotations.get(ZONE) or self.zones[0]

    # -- changes ------------------------------------------------------------------------------

    def _random_change(self, service: Obj) -> tuple[str, Obj]:
        ports: list[Obj] = [dict(p) for p in service["spec"]["ports"]]
        kinds = ["strategy", "interval", "retries", "description", "node-port", "renumber"]
        if len(self.zones) > 1:
            kinds.append("zone")
        if len(ports) < MAX_PORTS:
            kinds.append("add-port")
        if len(ports) > 1:
            kinds.append("remove-port")
        if self.rng.random() < 0.05:
            return "type-clusterip", {"spec": {"type": "ClusterIP"}}
        kind = self.rng.choice(kinds)
        annotations: dict[str, str | None]
        if kind == "strategy":
            annotations = {STRATEGY: self.rng.choice((*STRATEGIES, None))}
        elif kind == "interval":
            annotations = {INTERVAL: self.rng.choice((*INTERVALS, None))}
        elif kind == "retries":
            annotations = {RETRIES: self.rng.choice(("1", "2", "3", "5", None))}
        elif kind == "description":
            text = f"changed {self.rng.randrange(10**6)}"
            annotations = {DESCRIPTION: self.rng.choice((text, None))}
        elif kind == "zone":
            annotations = {ZONE: self._next_zone(self.zone_of(service))}
        else:
            if kind == "node-port":
                index = self.rng.randrange(len(ports))
                used = {p.get("nodePort") for p in ports}
                node_port = self.rng.randint(*NODE_PORTS)
                while node_port in used:
                    node_port = self.rng.randint(*NODE_PORTS)
                ports[index]["nodePort"] = node_port
            elif kind == "renumber":
                index = self.rng.randrange(len(ports))
                others = ports[:index] + ports[index + 1 :]
                number, protocol = self._free_port(others, ports[index]["protocol"])
                ports[index] = service_port(
                    number, protocol, node_port=ports[index].get("nodePort")
                )
            elif kind == "add-port":
                ports.append(service_port(*self._free_port(ports)))
            else:
                ports.pop(self.rng.randrange(len(ports)))
            return kind, {"spec": {"ports": ports}}
        return kind, {"metadata": {"annotations": annotations}}

    def _next_zone(self, current: str) -> str | None:
        """Away from the default zone, or back: by removing the annotation or naming the zone."""
        default = self.zones[0]
        if current != default:
            return self.rng.choice((None, default))
        return self.rng.choice(self.zones[1:])

    def _free_port(self, ports: list[Obj], protocol: str | None = None) -> tuple[int, str]:
        protocol = protocol or ("UDP" if self.rng.random() < 0.15 else "TCP")
        pool = UDP_PORTS if protocol == "UDP" else TCP_PORTS
        used = {(p["port"], p["protocol"]) for p in ports}
        free = [n for n in pool if (n, protocol) not in used]
        if not free:
            protocol, pool = "TCP", TCP_PORTS
            free = [n for n in pool if (n, protocol) not in used]
        return self.rng.choice(free), protocol

    # -- HTTP -----------------------------------------------------------------------------------

    def _get(self, namespace: str, name: str) -> Obj | None:
        try:
            response = self.http.get(SERVICES.path(namespace, name))
        except httpx.HTTPError as exc:
            self.kube_errors[type(exc).__name__] += 1
            return None
        if response.status_code != 200:
            self.kube_errors[f"get-{response.status_code}"] += 1
            return None
        result: Obj = response.json()
        return result

    def _request(self, what: str, method: str, path: str, **kwargs: Any) -> bool:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.kube_errors[type(exc).__name__] += 1
            return False
        if response.status_code >= 400:
            # 422: e.g. a NodePort another Service holds; the campaign just moves on.
            self.kube_errors[f"{what}-{response.status_code}"] += 1
            return False
        return True
