"""Regressions found by the fault campaign (``chaos/``, ``docs/reliability.md``), end to end."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exoccm.kube.resources import NAMESPACES, SERVICES
from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.scenario import register_nodes, seed_cloud
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import ZONE, wait_for
from tests.e2e.service_helpers import OTHER_ZONE, World, ingress_ip, port


def lb_service(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def test_resources_left_in_error_by_failed_operations_are_repaired(
    clean_cluster: ControlPlane,
    simulator: SimProcess,
    exoccm_factory: Callable[..., ExoccmProcess],
    namespace: str,
) -> None:
    """A failed create left the NLB in ``error`` for ever, and a failed add left the NLB service
    in ``error`` with the wanted values: the plan saw nothing to change."""
    _, instances = seed_cloud(simulator, ZONE)
    register_nodes(clean_cluster, instances, uninitialized=False)
    for operation in ("create-load-balancer", "add-service-to-load-balancer"):
        simulator.call(
            "inject",
            operation_id=operation,
            fault={"kind": "operation-failure", "reason": "busy", "message": "injected"},
            count=1,
        )
    exoccm_factory()
    clean_cluster.apply(SERVICES.path(namespace), lb_service("unlucky"))

    def repaired() -> bool:
        nlbs = simulator.load_balancers(ZONE)
        if len(nlbs) != 1 or nlbs[0]["state"] != "running":
            return False
        services = nlbs[0]["services"]
        if [s["state"] for s in services] != ["running"]:
            return False
        with clean_cluster.http() as client:
            svc = client.get(SERVICES.path(namespace, "unlucky")).json()
        ingress = (svc.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
        return [i["ip"] for i in ingress] == [nlbs[0]["ip"]]

    wait_for(repaired, timeout=120, what="the NLB and its service to be running, with the IP")
    failed = [r["operation_id"] for r in simulator.requests() if r["fault"] == "operation-failure"]
    assert sorted(failed) == ["add-service-to-load-balancer", "create-load-balancer"]
    assert simulator.count("create-load-balancer") == 1  # repaired, not re-created


def test_a_stop_that_outlives_the_apiserver_still_exits_0(
    kube_assets: binaries.Assets, simulator: SimProcess, tmp_path: Path
) -> None:
    """SIGTERM while a reconcile waits on a stuck operation, then the apiserver goes away: the
    Lease cannot be renewed while the work drains. That cancels the work (the fence), and the
    process still exits 0, for it stopped as asked (it exited 1 and the campaign flagged it)."""
    plane = ControlPlane(kube_assets, workdir=tmp_path / "plane")
    plane.start()
    process: ExoccmProcess | None = None
    try:
        _, instances = seed_cloud(simulator, ZONE)
        register_nodes(plane, instances, uninitialized=False)
        plane.apply(NAMESPACES.path(), {"metadata": {"name": "web"}})
        simulator.call(
            "inject",
            operation_id="create-load-balancer",
            fault={"kind": "operation-stuck"},
            count=1,
        )
        env = {**simulator.env(ZONE), "EXOCCM_LEADER_ELECTION_NAMESPACE": "web"}
        process = ExoccmProcess(plane.kubeconfig, env, tmp_path / "exoccm.log").start()
        process.wait_ready()
        plane.apply(SERVICES.path("web"), lb_service("stuck"))
        wait_for(
            lambda: any(r["fault"] == "operation-stuck" for r in simulator.requests()),
            what="the create whose operation never ends",
        )
        assert process.proc is not None
        process.proc.send_signal(signal.SIGTERM)
        wait_for(
            lambda: any(line.get("msg") == "Shutdown requested" for line in process.logs()),
            timeout=10,
            what="the shutdown to begin",
        )
        plane.stop_apiserver()
        # The renew deadline (10 s) passes first, then the fence cancels the waiting work.
        code = process.proc.wait(45)
        assert code == 0
        logs = process.logs()
        messages = [line.get("msg") for line in logs]
        assert "Leadership lost: the Lease could not be renewed in time" in messages
        assert logs[-1]["msg"] == "Stopped exoccm"
        assert logs[-1]["exit_code"] == 0
    finally:
        if process is not None:
            process.kill()
        plane.stop()


def _interrupt_while_adding_services(simulator: SimProcess, process: ExoccmProcess) -> None:
    """The NLB is made in the new zone, adding its services keeps failing; a graceful stop."""
    wait_for(
        lambda: simulator.count("add-service-to-load-balancer", zone=OTHER_ZONE, status=503) >= 2,
        what="adding the new NLB's service to fail",
    )
    process.stop()


def _interrupt_while_the_create_is_pending(simulator: SimProcess, process: ExoccmProcess) -> None:
    """The leader dies while it waits for the create's operation (the API already named it)."""
    wait_for(
        lambda: simulator.count("get-operation", zone=OTHER_ZONE) >= 2,
        what="exoccm to wait for the stuck create",
    )
    process.kill()


INTERRUPTIONS = {
    "services-failing": (
        "add-service-to-load-balancer",
        {"kind": "http", "status": 503},
        _interrupt_while_adding_services,
    ),
    "create-pending": (
        "create-load-balancer",
        {"kind": "operation-stuck", "seconds": 8},
        _interrupt_while_the_create_is_pending,
    ),
}


@pytest.mark.parametrize("interruption", sorted(INTERRUPTIONS))
def test_a_move_resumed_by_a_new_leader_under_a_lying_listing_makes_no_second_nlb(
    clean_cluster: ControlPlane,
    simulator: SimProcess,
    exoccm_factory: Callable[..., ExoccmProcess],
    namespace: str,
    interruption: str,
) -> None:
    """A zone move made the NLB in the new zone and was interrupted (its services failing, or
    the leader killed while the create's operation was pending); the Service still named its
    old NLB, so a new leader (empty caches) looked for the new one in the new zone's listing
    only. A listing that left it out made it create a second NLB there."""
    operation, fault, interrupt = INTERRUPTIONS[interruption]
    world = World(clean_cluster, simulator, namespace)
    world.nodes(world.pool("home"))
    world.nodes(world.pool("away", zone=OTHER_ZONE))
    process = exoccm_factory()
    world.create_service("mover", [port(80)])
    _, old = world.wait_ports("mover", {(80, "tcp")})

    simulator.call("inject", operation_id=operation, zone=OTHER_ZONE, fault=fault, count=1)
    if interruption == "services-failing":
        simulator.call("inject", operation_id=operation, zone=OTHER_ZONE, fault=fault)
    world.annotate("mover", zone=OTHER_ZONE)
    made = wait_for(lambda: world.load_balancers(OTHER_ZONE), what="the NLB in the new zone")
    interrupt(simulator, process)
    simulator.call("clear_faults")
    # From now on every listing of the new zone leaves that NLB out.
    simulator.call(
        "inject",
        operation_id="list-load-balancers",
        zone=OTHER_ZONE,
        fault={"kind": "listing-partial", "ids": [made[0]["id"]]},
    )
    exoccm_factory()
    moved, new = world.wait_nlb(
        "mover", lambda svc, lb: lb["id"] != old["id"], zone=OTHER_ZONE, what="the moved NLB"
    )
    assert new["id"] == made[0]["id"], "the NLB made before the new leader took over"
    assert ingress_ip(moved) == new["ip"]
    assert simulator.count("create-load-balancer", zone=OTHER_ZONE) == 1, "no second NLB"
    wait_for(
        lambda: world.load_balancer(old["id"]) is None, timeout=90, what="the old zone's NLB to go"
    )
    assert [lb["id"] for lb in world.load_balancers(OTHER_ZONE)] == [new["id"]]
