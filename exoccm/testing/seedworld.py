"""The seed story with its traffic: what ``exoccm demo`` shows and the end-to-end tests check.

On a fuller control plane (:class:`~exoccm.testing.fullplane.FullControlPlane`), :func:`seed_world`
starts the Exoscale simulator with its data plane (NLBs forward real TCP on loopback addresses
and health-check their targets for real), exoccm as a process, and the stand-ins of kube-proxy
on each Node and of each website Pod (:func:`~exoccm.testing.traffic.cluster_traffic`).
:meth:`SeedWorld.replay` then plays the seed story (:mod:`exoccm.testing.scenario`) in the
world's namespace, and :meth:`SeedWorld.wait_converged` waits until all of it has happened:
exoccm has initialized the Nodes, the Deployment's Pods run, the Service has its EXTERNAL-IP and
the NLB's health checks pass on every Node.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from exoccm.kube.objects import Obj
from exoccm.kube.resources import NODES, SERVICES
from exoccm.sim.dataplane_addresses import LoopbackNetworks
from exoccm.testing import objects
from exoccm.testing.fullplane import FullControlPlane
from exoccm.testing.nodes import delete_node
from exoccm.testing.polling import wait_until
from exoccm.testing.process import ExoccmProcess, running_exoccm
from exoccm.testing.scenario import (
    NAMESPACE,
    ZONE,
    SeedStory,
    deploy_website,
    register_nodes,
    seed_cloud,
)
from exoccm.testing.simprocess import SimProcess, running_simulator
from exoccm.testing.traffic import TrafficControl, cluster_traffic

ID_ANNOTATION = "service.beta.kubernetes.io/exoscale-loadbalancer-id"
WEBSITE_SELECTOR = "app=website"
REPLICAS = 3


def _quiet(_: str) -> None:
    pass


@dataclass
class SeedWorld:
    """One seed story's cluster side (``plane``, ``namespace``), cloud side (``sim``), exoccm,
    and the stand-ins that carry its traffic."""

    plane: FullControlPlane
    sim: SimProcess
    exoccm: ExoccmProcess
    traffic: TrafficControl
    namespace: str
    zone: str
    story: SeedStory | None = None
    pool: Obj | None = None
    instances: list[Obj] = field(default_factory=list)
    registered: list[Obj] = field(default_factory=list)  # the Nodes, as registered

    def register_nodes(self) -> list[Obj]:
        """Seed the cloud with an Instance Pool of two instances, and register their Nodes as
        kubelets with ``--cloud-provider=external`` do: uninitialized, in KWOK's care."""
        self.pool, self.instances = seed_cloud(self.sim, self.zone)
        self.registered = register_nodes(self.plane, self.instances)
        return self.registered

    def deploy_website(self) -> SeedStory:
        """The namespace, the website Deployment and its LoadBalancer Service."""
        if self.pool is None:
            raise RuntimeError("no Nodes yet: call register_nodes() first")
        service = deploy_website(self.plane, namespace=self.namespace, zone=self.zone)
        self.story = SeedStory(self.pool, self.instances, self.registered, service)
        return self.story

    def replay(self) -> SeedStory:
        """The whole story: the Nodes, exoccm initializing them, then the website (as a user
        deploys it to a running cluster, so the scheduler can use both Nodes)."""
        self.register_nodes()
        self.wait_nodes_initialized()
        return self.deploy_website()

    @property
    def seeded(self) -> SeedStory:
        if self.story is None:
            raise RuntimeError("the story has not been played yet: call replay() first")
        return self.story

    @property
    def node_names(self) -> list[str]:
        return [str(node["metadata"]["name"]) for node in self.registered]

    @property
    def instance_ips(self) -> list[str]:
        """The public IPs of the pool's instances, in the order of :attr:`node_names`."""
        return [str(instance["public-ip"]) for instance in self.instances]

    def nodes(self) -> list[Obj]:
        """The story's Nodes as they are now (a deleted one is left out)."""
        found = (objects.get(self.plane, NODES.path(name=name)) for name in self.node_names)
        return [node for node in found if node is not None]

    def pods(self, selector: str = WEBSITE_SELECTOR) -> list[Obj]:
        """The website's Pods that run now."""
        return objects.running_pods(self.plane, self.namespace, selector)

    def service(self, name: str = "website") -> Obj | None:
        return objects.get(self.plane, SERVICES.path(self.namespace, name))

    def external_ip(self, name: str = "website") -> str | None:
        return objects.ingress_ip(self.service(name))

    def nlb(self, name: str = "website") -> Obj | None:
        """The NLB the Service's ``id`` annotation names, as the simulator holds it."""
        service = self.service(name) or {"metadata": {}}
        nlb_id = (service["metadata"].get("annotations") or {}).get(ID_ANNOTATION)
        return next((lb for lb in self.sim.load_balancers(self.zone) if lb["id"] == nlb_id), None)

    def health_statuses(self, name: str = "website", port: int = 80) -> dict[str, str]:
        """``instance IP -> success|failure`` of the health checks of the NLB service for
        ``port`` of Service ``name``, as the simulator measured them (empty without one)."""
        nlb = self.nlb(name) or {}
        for nlb_service in nlb.get("services") or []:
            if nlb_service["port"] == port:
                return {s["public-ip"]: s["status"] for s in nlb_service["healthcheck-status"]}
        return {}

    def wait_statuses(
        self, wanted: Mapping[str, str], name: str = "website", timeout: float = 60.0
    ) -> None:
        """Until the health checks of Service ``name``'s NLB report exactly ``wanted``
        (TimeoutError saying what they reported last)."""
        measured: dict[str, str] = {}

        def reported() -> bool:
            measured.clear()
            measured.update(self.health_statuses(name))
            return measured == dict(wanted)

        try:
            wait_until(
                reported, f"the health checks of {name}'s NLB to report {dict(wanted)}", timeout
            )
        except TimeoutError as error:
            raise TimeoutError(f"{error}; they reported {measured}") from None

    def wait_nodes_initialized(self, timeout: float = 60.0) -> None:
        """Until exoccm has initialized every Node of the story."""
        wait_until(
            lambda: (
                len(nodes := self.nodes()) == len(self.node_names)
                and all(objects.is_initialized(node) for node in nodes)
            ),
            "exoccm to initialize the Nodes",
            timeout,
        )

    def wait_converged(self, timeout: float = 180.0) -> None:
        """Until exoccm has initialized the Nodes, the website's Pods run, the Service has its
        EXTERNAL-IP, and the NLB's health checks pass on every Node (TimeoutError naming the
        step that did not happen)."""
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        self.wait_nodes_initialized(left())
        wait_until(lambda: len(self.pods()) == REPLICAS, f"{REPLICAS} website Pods Running", left())
        wait_until(self.external_ip, "the Service's EXTERNAL-IP", left())
        self.wait_statuses(dict.fromkeys(self.instance_ips, "success"), timeout=left())

    def remove(self) -> None:
        """Delete the Services (exoccm, still running, deletes their NLBs), the namespace and
        the Nodes: what a shared control plane must not keep."""
        try:
            # Before the namespace: its controller would wait, with a backoff, for the
            # Services' finalizers to go.
            with self.plane.http() as client:
                client.delete(SERVICES.path(self.namespace))
            wait_until(
                lambda: (
                    not (objects.get(self.plane, SERVICES.path(self.namespace)) or {}).get("items")
                ),
                f"the Services of {self.namespace} to be deleted",
                60.0,
            )
            self.plane.delete_namespace(self.namespace)
        finally:
            for name in self.node_names:
                delete_node(self.plane, name)


@contextmanager
def seed_world(
    plane: FullControlPlane,
    workdir: Path,
    *,
    networks: LoopbackNetworks,
    namespace: str = NAMESPACE,
    zone: str = ZONE,
    latency: float = 0.2,
    exoccm_env: Mapping[str, str] | None = None,
    progress: Callable[[str], None] = _quiet,
) -> Iterator[SeedWorld]:
    """The simulator (its NLB and instance IPs from ``networks``; operations taking ``latency``
    seconds), exoccm and the stand-ins, for the story in ``namespace``; all stopped on exit.
    ``progress`` hears about each as it comes up."""
    with running_simulator(
        workdir / "simulator", latency=latency, data_plane=True, networks=networks
    ) as sim:
        progress(
            f"Exoscale API simulator is up at {sim.url} with its data plane: NLB IPs from "
            f"{networks.load_balancers}, instance IPs from {networks.instances}; operations "
            f"take {latency:g}s"
        )
        environment = {
            **sim.env(zone),
            # In kube-system, named after the story: tests' namespaces come and go.
            "EXOCCM_LEADER_ELECTION_NAMESPACE": "kube-system",
            "EXOCCM_LEADER_ELECTION_NAME": f"exoccm-{namespace}",
            **(exoccm_env or {}),
        }
        with running_exoccm(plane.kubeconfig, environment, workdir / "exoccm.log") as exoccm:
            progress(f"exoccm is running (metrics and health on {exoccm.url})")
            with cluster_traffic(
                plane.kubeconfig, pod_network=plane.pod_network, namespaces={namespace}
            ) as traffic:
                progress(
                    "kube-proxy and website stand-ins follow the cluster (Pod IPs from "
                    f"{plane.pod_network.cidr}, carried by {plane.pod_network.loopback})"
                )
                yield SeedWorld(plane, sim, exoccm, traffic, namespace, zone)
