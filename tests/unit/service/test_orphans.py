"""The orphan collector's judgement: which of exoccm's NLBs no Service accounts for (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from exoccm.controllers.service.desired import ownership_labels
from exoccm.controllers.service.drift import find_orphans
from exoccm.exoscale.models import LoadBalancer

PREFIX = "service.beta.kubernetes.io/exoscale-loadbalancer-"
CLUSTER = "prod"
ZONE = "de-muc-1"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def lb(
    lb_id: str, uid: str, *, age: int = 0, ip: str | None = None, cluster: str = CLUSTER
) -> LoadBalancer:
    return LoadBalancer(
        id=lb_id,
        name=f"k8s-{uid}",
        ip=ip or f"192.0.2.{abs(hash(lb_id)) % 250 + 1}",
        created_at=EPOCH + timedelta(seconds=age),
        labels=ownership_labels(cluster, "shop", "web", uid),
    )


def svc(
    uid: str,
    *,
    nlb_id: str | None = None,
    ip: str | None = None,
    zone: str = ZONE,
    lb_type: str = "LoadBalancer",
    finalizer: bool = False,
    external: bool = False,
) -> dict[str, Any]:
    annotations = {PREFIX + "zone": zone}
    if nlb_id:
        annotations[PREFIX + "id"] = nlb_id
    if external:
        annotations[PREFIX + "external"] = "true"
    service: dict[str, Any] = {
        "metadata": {"uid": uid, "name": uid, "namespace": "shop", "annotations": annotations},
        "spec": {"type": lb_type},
    }
    if finalizer:
        service["metadata"]["finalizers"] = ["service.kubernetes.io/load-balancer-cleanup"]
    if ip:
        service["status"] = {"loadBalancer": {"ingress": [{"ip": ip}]}}
    return service


def zone_of(service: dict[str, Any]) -> str:
    return str(service["metadata"]["annotations"][PREFIX + "zone"])


def orphans(lbs: list[LoadBalancer], services: list[dict[str, Any]]) -> dict[str, str]:
    return {
        o.load_balancer.id: o.reason for o in find_orphans(ZONE, lbs, services, zone_of, CLUSTER)
    }


def test_an_nlb_whose_service_is_gone_is_an_orphan() -> None:
    assert orphans([lb("a", "u1")], []) == {"a": "its Service no longer exists"}


def test_other_clusters_and_unlabelled_nlbs_are_never_considered() -> None:
    unlabelled = LoadBalancer(id="x", name="hand-made", ip="192.0.2.200")
    assert orphans([lb("a", "u1", cluster="staging"), unlabelled], []) == {}


def test_a_named_or_serving_nlb_is_never_an_orphan_whatever_its_labels_say() -> None:
    """A restored cluster's Services have new UIDs but still name (and show) their NLBs."""
    named = lb("a", "old-1")
    serving = lb("b", "old-2", ip="192.0.2.77")
    services = [svc("new-1", nlb_id="a"), svc("new-2", ip="192.0.2.77")]
    assert orphans([named, serving], services) == {}


def test_type_change_and_zone_move() -> None:
    assert orphans([lb("a", "u1")], [svc("u1", lb_type="ClusterIP")]) == {
        "a": "its Service is no longer a load balancer"
    }
    assert orphans([lb("a", "u1")], [svc("u1", lb_type="ClusterIP", finalizer=True)]) == {}, (
        "with the finalizer the Service's own cleanup deletes it"
    )
    moved = svc("u1", zone="ch-gva-2", nlb_id="b")
    assert orphans([lb("a", "u1")], [moved]) == {"a": "its Service moved to zone ch-gva-2"}
    still_pinned = svc("u1", zone="ch-gva-2", nlb_id="a")
    assert orphans([lb("a", "u1")], [still_pinned]) == {}, "a move that could not happen yet"


def test_duplicates_keep_the_named_one_or_else_the_oldest() -> None:
    first, second = lb("a", "u1", age=0), lb("b", "u1", age=10)
    assert orphans([second, first], [svc("u1")]) == {"b": "it duplicates NLB a of its Service"}
    assert orphans([first, second], [svc("u1", nlb_id="b")]) == {
        "a": "its Service is served by another NLB"
    }


def test_a_services_new_nlb_during_a_zone_move_is_kept() -> None:
    """The id still names the old zone's NLB until the new one is ready: not a leftover."""
    new = lb("new", "u1")
    assert orphans([new], [svc("u1", nlb_id="old-in-other-zone", ip="192.0.2.250")]) == {}


def test_an_nlb_left_behind_by_a_move_to_an_external_nlb() -> None:
    ours = lb("a", "u1")
    service = svc("u1", nlb_id="ext", ip="198.51.100.1", external=True)
    assert orphans([ours], [service]) == {"a": "its Service now uses an external NLB"}


lb_ids = st.sampled_from(["a", "b", "c", "d"])
uids = st.sampled_from(["u1", "u2", "u3"])


@given(
    st.lists(st.tuples(lb_ids, uids, st.integers(0, 5)), max_size=6, unique_by=lambda t: t[0]),
    st.lists(
        st.tuples(
            uids, st.one_of(st.none(), lb_ids), st.booleans(), st.sampled_from([ZONE, "ch-gva-2"])
        ),
        max_size=4,
        unique_by=lambda t: t[0],
    ),
)
def test_no_nlb_a_service_names_or_is_served_by_is_ever_an_orphan(
    nlbs: list[tuple[str, str, int]], services: list[tuple[str, str | None, bool, str]]
) -> None:
    balancers = [lb(i, uid, age=age, ip=f"192.0.2.{n + 1}") for n, (i, uid, age) in enumerate(nlbs)]
    ips = {b.id: b.ip for b in balancers}
    objects = [
        svc(uid, nlb_id=nlb_id, ip=ips.get(nlb_id or "") if serving else None, zone=zone)
        for uid, nlb_id, serving, zone in services
    ]
    found = orphans(balancers, objects)
    for uid, nlb_id, _, _ in services:
        assert nlb_id not in found, f"{nlb_id} is named by {uid}"
    for obj in objects:
        for entry in (obj.get("status") or {}).get("loadBalancer", {}).get("ingress", []):
            assert all(ips[o] != entry["ip"] for o in found)
    # Every Service in this zone without a named NLB here keeps one of its NLBs.
    for uid, nlb_id, serving, zone in services:
        theirs = [b.id for b in balancers if b.labels["k8s-service-uid"] == uid]
        if zone == ZONE and theirs and nlb_id not in ips and not serving:
            assert any(t not in found for t in theirs)
