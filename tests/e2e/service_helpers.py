"""Shared vocabulary of the service-controller end-to-end tests.

A :class:`World` is one test's Kubernetes namespace plus its Exoscale simulator: it creates
Instance Pools, instances and Nodes, creates and edits Services, reads the NLBs as the simulator
holds them, lists Events, and counts the cloud calls exoccm made. Every wait has a deadline
(:func:`tests.e2e.conftest.wait_for`); nothing is asserted about how long anything took.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from exoscale.api.v2 import Client

from exoccm.kube.objects import Obj
from exoccm.kube.resources import EVENTS, SERVICES
from exoccm.testing.controlplane import ControlPlane, ControlPlaneError
from exoccm.testing.nodes import create_node, node_manifest
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.services import NLB_WRITE_OPERATIONS, service_port
from exoccm.testing.simprocess import API_KEY, API_SECRET, SimProcess
from tests.e2e.conftest import ZONE, wait_for

PREFIX = "service.beta.kubernetes.io/exoscale-loadbalancer-"
FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
OTHER_ZONE = "ch-gva-2"

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
DEFAULT_HEALTHCHECK = {"mode": "tcp", "interval": 10, "timeout": 5, "retries": 1}
_RECONCILES = re.compile(
    r'^controller_runtime_reconcile_total\{[^}]*controller="service"[^}]*\} ([0-9.e+]+)$',
    re.MULTILINE,
)
_CACHED_NODES = re.compile(
    r'^exoccm_informer_objects\{[^}]*informer="nodes"[^}]*\} ([0-9.e+]+)$', re.MULTILINE
)


def key(suffix: str) -> str:
    """The full annotation key for ``suffix`` (``"service-strategy"`` …)."""
    return PREFIX + suffix


def lb_annotations(**values: str) -> dict[str, str]:
    """``lb_annotations(service_strategy="source-hash")``: underscores in names become dashes."""
    return {key(name.replace("_", "-")): value for name, value in values.items()}


port = service_port


def ingress_ip(service: Mapping[str, Any] | None) -> str | None:
    ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress")
    return str(ingress[0]["ip"]) if ingress else None


def node_ports(service: Mapping[str, Any]) -> dict[tuple[int, str], int]:
    """``(port, "tcp"|"udp") -> nodePort`` of a Service."""
    return {
        (int(p["port"]), str(p.get("protocol", "TCP")).lower()): int(p["nodePort"])
        for p in service["spec"]["ports"]
    }


def nlb_services(nlb: Mapping[str, Any]) -> dict[tuple[int, str], Obj]:
    """The NLB's services by ``(port, protocol)``."""
    return {(int(s["port"]), str(s["protocol"])): s for s in nlb.get("services") or []}


def cached_nodes(process: ExoccmProcess) -> int:
    """How many Nodes exoccm's Node informer holds, from its metrics."""
    found = _CACHED_NODES.search(process.metrics())
    return int(float(found.group(1))) if found else 0


def reconciles(process: ExoccmProcess) -> float:
    """How many service reconciles exoccm has finished (every result), from its metrics."""
    return sum(float(v) for v in _RECONCILES.findall(process.metrics()))


@dataclass
class Pool:
    id: str
    name: str
    zone: str
    instances: list[Obj] = field(default_factory=list)


@dataclass
class World:
    """One test's namespace in the real apiserver and its Exoscale simulator."""

    plane: ControlPlane
    sim: SimProcess
    namespace: str
    zone: str = ZONE

    # -- the cloud ------------------------------------------------------------------------------

    def pool(self, name: str, size: int = 2, *, zone: str | None = None) -> Pool:
        """An Instance Pool with ``size`` running instances."""
        zone = zone or self.zone
        created = self.sim.call("add_instance_pool", zone=zone, name=name)
        pool = Pool(id=created["id"], name=name, zone=zone)
        pool.instances = [
            self.sim.call("add_instance", zone=zone, name=f"{name}-{i}", pool_id=pool.id)
            for i in range(size)
        ]
        return pool

    def standalone_instance(self, name: str, *, zone: str | None = None) -> Obj:
        """An instance outside any Instance Pool."""
        result: Obj = self.sim.call("add_instance", zone=zone or self.zone, name=name)
        return result

    def load_balancers(self, zone: str | None = None) -> list[Obj]:
        return self.sim.load_balancers(zone or self.zone)

    def load_balancer(self, lb_id: str | None, zone: str | None = None) -> Obj | None:
        return next((lb for lb in self.load_balancers(zone) if lb["id"] == lb_id), None)

    def operations(self) -> list[str]:
        """The operation id of every Exoscale API call made so far, in order."""
        return [str(r["operation_id"]) for r in self.sim.requests()]

    def writes(self) -> dict[str, int]:
        """How many NLB writes of each kind exoccm (and the test) made so far."""
        counts: dict[str, int] = {}
        for op in self.operations():
            if op in NLB_WRITE_OPERATIONS:
                counts[op] = counts.get(op, 0) + 1
        return counts

    def writes_since(self, before: Mapping[str, int]) -> dict[str, int]:
        """The NLB writes made since ``before`` (a :meth:`writes` reading), by kind."""
        after = self.writes()
        changes = {op: after.get(op, 0) - before.get(op, 0) for op in set(before) | set(after)}
        return {op: n for op, n in changes.items() if n}

    def drift_passes_after(self, listed: int, passes: int = 2, timeout: float = 60.0) -> None:
        """Wait until ``list-load-balancers`` was called ``passes`` more times than ``listed``.

        Each drift pass re-lists the NLBs of every zone in use and then re-queues every
        load-balancer Service, so two more listings mean at least one full pass happened since.
        """
        wait_for(
            lambda: self.sim.count("list-load-balancers") >= listed + passes,
            timeout=timeout,
            what=f"{passes} drift passes",
        )

    def official_client(self, zone: str | None = None) -> Any:
        """The official Exoscale client, as an operator managing NLBs by hand would use it."""
        return Client(API_KEY, API_SECRET, url=f"{self.sim.url}/{zone or self.zone}/v2")

    def handmade_nlb(
        self,
        name: str,
        *,
        description: str = "managed by hand",
        foreign_ports: Iterable[tuple[int, str, str]] = (),
        zone: str | None = None,
    ) -> Obj:
        """An NLB created outside Kubernetes, with ``(port, protocol, pool_id)`` services."""
        client = self.official_client(zone)
        operation = client.wait(
            client.create_load_balancer(name=name, description=description)["id"]
        )
        lb_id = operation["reference"]["id"]
        for number, protocol, pool_id in foreign_ports:
            client.wait(
                client.add_service_to_load_balancer(
                    id=lb_id,
                    name=f"hand-made-{number}-{protocol}",
                    instance_pool={"id": pool_id},
                    protocol=protocol,
                    strategy="round-robin",
                    port=number,
                    target_port=30999,
                    healthcheck={"mode": "tcp", "port": 30999},
                )["id"]
            )
        found = self.load_balancer(lb_id, zone)
        assert found is not None
        return found

    # -- Nodes ----------------------------------------------------------------------------------

    def node(
        self,
        instance: Mapping[str, Any],
        *,
        labels: Mapping[str, str] | None = None,
        provider_id: bool = True,
    ) -> Obj:
        """A registered, initialized Node running on ``instance``.

        With ``provider_id=False`` the Node is known only by its systemUUID (the instance ID).
        """
        return create_node(
            self.plane,
            node_manifest(
                f"{instance['name']}-{uuid.uuid4().hex[:6]}",
                provider_id=f"exoscale://{instance['id']}" if provider_id else None,
                system_uuid=str(instance["id"]),
                addresses=[("ExternalIP", str(instance["public-ip"]))],
                labels=dict(labels or {}),
            ),
        )

    def nodes(self, pool: Pool, *, labels: Mapping[str, str] | None = None) -> list[Obj]:
        return [self.node(instance, labels=labels) for instance in pool.instances]

    # -- Services -------------------------------------------------------------------------------

    def http(self) -> httpx.Client:
        return self.plane.http()

    def service_path(self, name: str = "") -> str:
        return SERVICES.path(self.namespace, name or None)

    def create_service(
        self,
        name: str,
        ports: list[Obj] | None = None,
        annotations: Mapping[str, str] | None = None,
        **spec: Any,
    ) -> Obj:
        """A Service (``type: LoadBalancer`` unless ``spec`` says otherwise) in the namespace."""
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "annotations": dict(annotations or {})},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": name},
                "ports": ports if ports is not None else [port(80)],
                **spec,
            },
        }
        return self.plane.apply(self.service_path(), body)

    def service(self, name: str) -> Obj | None:
        with self.http() as client:
            response = client.get(self.service_path(name))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        result: Obj = response.json()
        return result

    def must_service(self, name: str) -> Obj:
        found = self.service(name)
        assert found is not None, f"Service {name} is gone"
        return found

    def patch_service(self, name: str, patch: Mapping[str, Any]) -> Obj:
        with self.http() as client:
            response = client.patch(self.service_path(name), json=patch, headers=MERGE_PATCH)
        if response.status_code >= 400:
            raise ControlPlaneError(f"patch {name}: {response.status_code} {response.text}")
        result: Obj = response.json()
        return result

    def annotate(self, service: str, /, **values: str | None) -> Obj:
        """Set (or with None remove) annotations by suffix, as ``lb_annotations()`` names them."""
        changes = {key(k.replace("_", "-")): v for k, v in values.items()}
        return self.patch_service(service, {"metadata": {"annotations": changes}})

    def set_ports(self, name: str, ports: list[Obj]) -> Obj:
        """Replace ``spec.ports`` (a merge patch replaces lists whole)."""
        return self.patch_service(name, {"spec": {"ports": ports}})

    def delete_service(self, name: str) -> None:
        with self.http() as client:
            response = client.delete(self.service_path(name))
        assert response.status_code in (200, 202), response.text

    def wait_gone(self, name: str, timeout: float = 60.0) -> None:
        wait_for(lambda: self.service(name) is None, timeout=timeout, what=f"{name} to be deleted")

    # -- the NLB of a Service -------------------------------------------------------------------

    def nlb_of(self, name: str, zone: str | None = None) -> Obj | None:
        """The NLB the Service's ``id`` annotation names, as the simulator holds it."""
        service = self.service(name)
        if service is None:
            return None
        lb_id = (service["metadata"].get("annotations") or {}).get(key("id"))
        return self.load_balancer(lb_id, zone) if lb_id else None

    def wait_nlb(
        self,
        name: str,
        condition: Callable[[Obj, Obj], bool] = lambda svc, nlb: True,
        *,
        zone: str | None = None,
        timeout: float = 60.0,
        what: str = "",
    ) -> tuple[Obj, Obj]:
        """Until the Service's NLB satisfies ``condition(svc, nlb)`` and the Service shows it.

        Settled means: the ``id`` annotation names the NLB, the ingress IP is the NLB's (the
        status is written last), and every NLB service is ``running`` (no write in flight).
        """

        def check() -> tuple[Obj, Obj] | None:
            service = self.service(name)
            if service is None or ingress_ip(service) is None:
                return None
            lb_id = (service["metadata"].get("annotations") or {}).get(key("id"))
            nlb = self.load_balancer(lb_id, zone) if lb_id else None
            if nlb is None or nlb["state"] != "running" or ingress_ip(service) != nlb["ip"]:
                return None
            if any(s["state"] != "running" for s in nlb.get("services") or []):
                return None
            return (service, nlb) if condition(service, nlb) else None

        found: tuple[Obj, Obj] = wait_for(
            check, timeout=timeout, what=what or f"the NLB of Service {name}"
        )
        return found

    def wait_ports(
        self, name: str, ports: Iterable[tuple[int, str]], *, zone: str | None = None
    ) -> tuple[Obj, Obj]:
        """Until the Service's NLB has exactly the NLB services keyed ``(port, protocol)``."""
        wanted = set(ports)
        return self.wait_nlb(
            name,
            lambda svc, nlb: set(nlb_services(nlb)) == wanted,
            zone=zone,
            what=f"NLB services {sorted(wanted)} for {name}",
        )

    # -- Events ---------------------------------------------------------------------------------

    def events(self, name: str) -> list[Obj]:
        """exoccm's service-controller Events about Service ``name`` (the apiserver's own
        controllers, e.g. the ClusterIP repair loop, record some too: those are left out)."""
        with self.http() as client:
            response = client.get(
                EVENTS.path(self.namespace),
                params={"fieldSelector": f"involvedObject.name={name}"},
            )
        response.raise_for_status()
        items: list[Obj] = [
            e
            for e in response.json()["items"]
            if (e.get("source") or {}).get("component") == "service-controller"
        ]
        return sorted(items, key=lambda e: (e.get("firstTimestamp") or "", e["metadata"]["name"]))

    def reasons(self, name: str) -> list[str]:
        return [str(e["reason"]) for e in self.events(name)]

    def wait_event(
        self,
        name: str,
        reason: str,
        *contains: str,
        min_count: int = 1,
        timeout: float = 60.0,
    ) -> Obj:
        """Until an Event ``reason`` about ``name`` whose message contains every ``contains``."""

        def find() -> Obj | None:
            for event in self.events(name):
                if (
                    event["reason"] == reason
                    and all(part in event["message"] for part in contains)
                    and int(event.get("count") or 1) >= min_count
                ):
                    return event
            return None

        found: Obj = wait_for(
            find, timeout=timeout, what=f"Event {reason} on {name} containing {contains}"
        )
        return found


def free_node_port(plane: ControlPlane) -> int:
    """A NodePort that no Service in the cluster uses."""
    with plane.http() as client:
        items = client.get(SERVICES.path()).json()["items"]
    used = {p.get("nodePort") for s in items for p in s["spec"].get("ports") or []}
    candidate = 32700
    while candidate in used:
        candidate -= 1
    return candidate
