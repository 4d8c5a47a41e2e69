"""The fault campaign's ingress watch judges sampled IPs as documented (docs/reliability.md)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx
import pytest

from chaos.checks import FINALIZER, Cloud
from chaos.ingress import SETTLED_FOR, IngressWatch
from chaos.workload import ZONE, Workload
from exoccm.kube.objects import Obj

HOME, AWAY = "de-muc-1", "ch-gva-2"
KEY = ("chaos-0", "web")
UID = "uid-web"


def service(
    ip: str | None,
    *,
    zone: str | None = None,
    type_: str = "LoadBalancer",
    finalizer: bool = True,
    deleting: bool = False,
) -> Obj:
    meta: Obj = {
        "name": KEY[1],
        "namespace": KEY[0],
        "uid": UID,
        "annotations": {ZONE: zone} if zone else {},
        "finalizers": [FINALIZER] if finalizer else [],
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status = {"loadBalancer": {"ingress": [{"ip": ip}] if ip else []}}
    return {"metadata": meta, "spec": {"type": type_}, "status": status}


def nlb(ip: str, *, uid: str = UID, state: str = "running") -> Obj:
    return {"id": f"nlb-{ip}", "ip": ip, "state": state, "labels": {"k8s-service-uid": uid}}


class Scene:
    """An ingress watch, the workload it reads requests from, and a clock."""

    def __init__(self, workload: Workload):
        self.workload = workload
        self.watch = IngressWatch(Cloud(HOME, {HOME: "pool-home", AWAY: "pool-away"}, "chaos"))
        self.now = 0.0

    def sample(
        self,
        svc: Obj,
        nlbs: dict[str, list[Obj]],
        *,
        before: dict[str, list[Obj]] | None = None,
        refused: tuple[tuple[str, str], ...] = (),
        after: float = 1.0,
    ) -> None:
        self.now += after
        readings = (nlbs if before is None else before, nlbs)
        self.watch.sample(self.now, {KEY: svc}, readings, self.workload, set(refused))

    def failures(self) -> list[str]:
        return self.watch.failures()


@pytest.fixture
def scene() -> Iterator[Scene]:
    with httpx.Client() as http:
        workload = Workload(http, random.Random(0), ("chaos-0",), 1, zones=(HOME, AWAY))
        workload.created.append(KEY)
        yield Scene(workload)


def test_an_ip_change_nobody_asked_for_is_a_failure_naming_both_ips(scene: Scene) -> None:
    scene.sample(service("10.0.0.1"), {HOME: [nlb("10.0.0.1")]})
    scene.sample(service("10.0.0.2"), {HOME: [nlb("10.0.0.2")]})
    assert scene.failures()[0] == (
        "chaos-0/web: IP changed from 10.0.0.1 to 10.0.0.2 without a zone move or type switch "
        "(seen in 1 samples)"
    )
    assert "had 2 NLBs" in scene.failures()[1], "a replacement nobody asked for is a second NLB"


def test_each_zone_move_allows_one_change_and_no_more(scene: Scene) -> None:
    scene.sample(service("10.0.0.1"), {HOME: [nlb("10.0.0.1")]})
    scene.workload.moves_asked[KEY] += 1
    scene.sample(service("10.0.0.1", zone=AWAY), {HOME: [nlb("10.0.0.1")], AWAY: [nlb("10.0.0.2")]})
    scene.sample(service("10.0.0.2", zone=AWAY), {AWAY: [nlb("10.0.0.2")]})
    assert scene.failures() == []
    assert (scene.watch.changes_seen, scene.watch.changes_allowed) == (1, 1)
    scene.sample(service("10.0.0.3", zone=AWAY), {AWAY: [nlb("10.0.0.3")]})
    assert "from 10.0.0.2 to 10.0.0.3" in scene.failures()[0]
    assert "had 3 NLBs" in scene.failures()[1]


def test_a_move_and_a_move_back_allow_two_changes(scene: Scene) -> None:
    scene.sample(service("10.0.0.1"), {HOME: [nlb("10.0.0.1")]})
    scene.workload.moves_asked[KEY] += 2  # moved away and back before exoccm was done
    scene.sample(service("10.0.0.2", zone=AWAY), {AWAY: [nlb("10.0.0.2")]})
    scene.sample(service("10.0.0.3"), {HOME: [nlb("10.0.0.3")]})
    assert scene.failures() == []
    assert scene.watch.changes_allowed == 2


def test_an_unused_allowance_expires_once_the_service_has_settled(scene: Scene) -> None:
    settled = {HOME: [nlb("10.0.0.1")]}
    scene.sample(service("10.0.0.1"), settled)
    scene.workload.moves_asked[KEY] += 2  # away and back again: the IP never had to change
    scene.sample(service("10.0.0.1"), settled)
    scene.sample(service("10.0.0.1"), settled, after=SETTLED_FOR)
    assert scene.watch.allowances_expired == 2
    scene.sample(service("10.0.0.9"), {HOME: [nlb("10.0.0.9")]})
    assert len(scene.failures()) == 1


def test_allowances_do_not_expire_while_the_old_nlb_is_still_there(scene: Scene) -> None:
    scene.sample(service("10.0.0.1"), {HOME: [nlb("10.0.0.1")]})
    scene.workload.moves_asked[KEY] += 1
    both = {HOME: [nlb("10.0.0.1")], AWAY: [nlb("10.0.0.2")]}
    scene.sample(service("10.0.0.1", zone=AWAY), both, after=SETTLED_FOR * 3)
    scene.sample(service("10.0.0.2", zone=AWAY), both, after=SETTLED_FOR * 3)
    assert scene.failures() == []


def test_a_load_balancer_that_had_an_ip_must_keep_one(scene: Scene) -> None:
    scene.sample(service("10.0.0.1"), {HOME: [nlb("10.0.0.1")]})
    scene.sample(service(None), {HOME: []})
    scene.sample(service(None), {HOME: []})
    assert scene.failures() == [
        "chaos-0/web lost its IP 10.0.0.1 while a LoadBalancer (seen in 2 samples)"
    ]


def test_an_ip_no_nlb_holds_is_a_service_without_an_nlb(scene: Scene) -> None:
    scene.sample(service("10.0.0.1"), {HOME: [nlb("10.0.0.1")]})
    scene.sample(service("10.0.0.1"), {HOME: []})
    assert scene.failures() == [
        "chaos-0/web shows IP 10.0.0.1, which no NLB holds (seen in 1 samples)"
    ]


def test_an_nlb_in_either_reading_holds_the_ip(scene: Scene) -> None:
    """Status moved and the old NLB deleted between the two readings: no gap."""
    scene.sample(service("10.0.0.1"), {HOME: [nlb("10.0.0.1")]})
    scene.sample(service("10.0.0.1"), {HOME: []}, before={HOME: [nlb("10.0.0.1")]})
    assert scene.failures() == []


def test_a_type_switch_suspends_the_nlb_rule_until_the_service_settles(scene: Scene) -> None:
    scene.sample(service("10.0.0.1"), {HOME: [nlb("10.0.0.1")]})
    scene.workload.switches_asked[KEY] += 1
    scene.sample(service("10.0.0.1", type_="ClusterIP"), {HOME: []})
    scene.sample(service(None), {HOME: []})  # back to LoadBalancer, no NLB yet
    scene.sample(service("10.0.0.2"), {HOME: [nlb("10.0.0.2")]})
    scene.sample(service("10.0.0.2"), {HOME: [nlb("10.0.0.2")]}, after=SETTLED_FOR)
    assert scene.failures() == []
    scene.sample(service(None), {HOME: []})
    assert scene.failures() == [
        "chaos-0/web lost its IP 10.0.0.2 while a LoadBalancer (seen in 1 samples)"
    ]


def test_refused_services_never_show_an_ip_or_the_finalizer(scene: Scene) -> None:
    scene.sample(service(None, finalizer=False), {HOME: []}, refused=(KEY,))
    assert scene.failures() == []
    scene.sample(service("10.0.0.1", finalizer=True), {HOME: []}, refused=(KEY,))
    assert len(scene.failures()) == 2
    assert "refused by design) got ['10.0.0.1']" in scene.failures()[0]
    assert FINALIZER in scene.failures()[1]


def test_services_being_deleted_are_left_alone(scene: Scene) -> None:
    scene.sample(service("10.0.0.1"), {HOME: [nlb("10.0.0.1")]})
    scene.sample(service("10.0.0.1", deleting=True), {HOME: []})
    assert scene.failures() == []


def test_an_allowance_outlives_a_settled_moment_shorter_than_the_settling_time(
    scene: Scene,
) -> None:
    """Switched to ClusterIP and back: the old NLB looks settled until exoccm acts."""
    settled = {HOME: [nlb("10.0.0.1")]}
    scene.sample(service("10.0.0.1"), settled)
    scene.workload.switches_asked[KEY] += 1
    scene.sample(service("10.0.0.1"), settled, after=0.5)
    scene.sample(service("10.0.0.1"), settled, after=SETTLED_FOR / 2)
    scene.sample(service("10.0.0.2"), {HOME: [nlb("10.0.0.2")]})
    assert scene.failures() == []


def test_a_second_nlb_nobody_asked_for_is_a_failure(scene: Scene) -> None:
    scene.sample(service("10.0.0.1"), {HOME: [nlb("10.0.0.1")]})
    scene.sample(service("10.0.0.1"), {HOME: [nlb("10.0.0.1"), nlb("10.0.0.2")]})
    assert scene.failures() == [
        "chaos-0/web had 2 NLBs (nlb-10.0.0.1, nlb-10.0.0.2) after 0 zone moves and 0 type "
        "switches (seen in 1 samples)"
    ]


def test_each_move_and_switch_explains_one_more_nlb(scene: Scene) -> None:
    scene.sample(service("10.0.0.1"), {HOME: [nlb("10.0.0.1")]})
    scene.workload.moves_asked[KEY] += 1
    scene.sample(service("10.0.0.2", zone=AWAY), {HOME: [nlb("10.0.0.1")], AWAY: [nlb("10.0.0.2")]})
    scene.workload.switches_asked[KEY] += 1
    scene.sample(service(None, zone=AWAY), {AWAY: []})
    scene.sample(service("10.0.0.3", zone=AWAY), {AWAY: [nlb("10.0.0.3")]})
    assert scene.failures() == []


def test_an_nlb_labelled_as_a_refused_services_is_a_failure(scene: Scene) -> None:
    scene.sample(service(None, finalizer=False), {HOME: [nlb("10.0.0.1")]}, refused=(KEY,))
    assert scene.failures() == [
        "chaos-0/web (refused by design) got NLBs ['nlb-10.0.0.1'] (seen in 1 samples)"
    ]
