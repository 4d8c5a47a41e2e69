"""exoccm, as a process, is the cloud provider of KWOK's Nodes: it initializes them (the website's
Pods wait for that), KWOK keeps what it wrote, and a Node whose instance is deleted goes away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exoccm.kube.objects import Obj
from exoccm.kube.resources import DEPLOYMENTS
from exoccm.testing.fullplane import FullControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.scenario import ZONE, seed_cloud, website_deployment
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import wait_for
from tests.integration.fullplane.conftest import (
    PODS,
    NodeFactory,
    condition,
    get,
    is_ready,
    node,
    running_pods,
    taint_keys,
    wait_for_status_report,
)

UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimProcess]:
    sim = SimProcess(tmp_path / "sim", latency=0.1).start()
    try:
        yield sim
    finally:
        sim.stop()


def _held_back_by_the_taint(plane: FullControlPlane, namespace: str, names: list[str]) -> bool:
    """The Nodes are Ready with the uninitialized taint as their only taint, and the Pods are
    unschedulable for an untolerated taint."""
    current = [node(plane, name) for name in names]
    if not all(n and is_ready(n) and taint_keys(n) == {UNINITIALIZED} for n in current):
        return False
    listing = get(plane, f"{PODS.format(namespace=namespace)}?labelSelector=app=website") or {}
    pods = listing.get("items", [])
    return len(pods) == 3 and all(
        not pod["spec"].get("nodeName")
        and (scheduled := condition(pod, "PodScheduled")) is not None
        and scheduled["reason"] == "Unschedulable"
        and "untolerated taint" in scheduled.get("message", "")
        for pod in pods
    )


def _initialized(node_obj: Obj | None) -> bool:
    return bool(
        node_obj
        and node_obj["spec"].get("providerID")
        and UNINITIALIZED not in taint_keys(node_obj)
        and "topology.kubernetes.io/zone" in node_obj["metadata"]["labels"]
    )


def test_exoccm_initializes_kwok_nodes_and_removes_a_deleted_instances_node(
    full_control_plane: FullControlPlane,
    kwok_nodes: NodeFactory,  # before the namespace: its Pods go before the Nodes
    full_namespace: str,
    simulator: SimProcess,
    tmp_path: Path,
) -> None:
    plane = full_control_plane
    _, instances = seed_cloud(simulator)
    for instance in instances:
        # As a kubelet started with --cloud-provider=external registers its Node.
        kwok_nodes(
            instance["name"],
            system_uuid=instance["id"],
            addresses=[("InternalIP", instance["public-ip"]), ("Hostname", instance["name"])],
            uninitialized=True,
        )
    names = [instance["name"] for instance in instances]
    plane.apply(DEPLOYMENTS.path(full_namespace), website_deployment())
    wait_for(
        lambda: _held_back_by_the_taint(plane, full_namespace, names),
        timeout=90,
        what="the Pods to wait for the uninitialized taint to go",
    )

    environment = {
        **simulator.env(ZONE),
        "EXOCCM_LEADER_ELECTION_NAMESPACE": full_namespace,
        "EXOCCM_LOG_LEVEL": "debug",
    }
    exoccm = ExoccmProcess(plane.kubeconfig, environment, tmp_path / "exoccm.log").start()
    try:
        exoccm.wait_ready()
        wait_for(
            lambda: all(_initialized(node(plane, name)) for name in names),
            timeout=60,
            what="exoccm to initialize the Nodes",
        )
        initialized: dict[str, Obj] = {}
        for instance in instances:
            current = node(plane, instance["name"])
            assert current is not None
            initialized[instance["name"]] = current
            assert current["spec"]["providerID"] == f"exoscale://{instance['id']}"
            labels = current["metadata"]["labels"]
            assert labels["node.kubernetes.io/instance-type"] == "standard.medium"
            assert labels["topology.kubernetes.io/zone"] == ZONE
            assert labels["topology.kubernetes.io/region"] == ZONE
            addresses = {(a["type"], a["address"]) for a in current["status"]["addresses"]}
            assert ("ExternalIP", instance["public-ip"]) in addresses
            assert is_ready(current)

        # Now the scheduler places the website's Pods and KWOK runs them.
        def three_running() -> list[Obj] | None:
            pods = running_pods(plane, full_namespace, "app=website")
            return pods if len(pods) == 3 else None

        pods = wait_for(three_running, timeout=90, what="3 website Pods Running")
        for pod in pods:
            assert pod["spec"]["nodeName"] in names

        # KWOK reports each Node's status again and leaves exoccm's addresses as they are.
        for name, before in initialized.items():
            ready = condition(before, "Ready")
            assert ready is not None
            wait_for_status_report(plane, name, ready["lastHeartbeatTime"])
            after = node(plane, name)
            assert after is not None
            assert after["status"]["addresses"] == before["status"]["addresses"]

        # The first instance is deleted: its kubelet goes with it, the Node turns NotReady, and
        # exoccm deletes the Node. The other Node stays.
        doomed, survivor = instances
        simulator.call("delete_instance", zone=ZONE, instance_id=doomed["id"])
        plane.stop_kubelet(doomed["name"])
        wait_for(
            lambda: node(plane, doomed["name"]) is None,
            timeout=120,
            what="the deleted instance's Node to go away",
        )
        assert is_ready(node(plane, survivor["name"]))
        assert exoccm.running()
    finally:
        exoccm.stop()
