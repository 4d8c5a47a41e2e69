"""Whose NLB is it, and may a Service use the one it names? Pure rules, every case."""

from __future__ import annotations

from typing import Any

import pytest

from exoccm.controllers.service.annotations import LoadBalancerSettings
from exoccm.controllers.service.decide import ServiceContext, refusal
from exoccm.controllers.service.declarations import EXTERNAL, ID
from exoccm.controllers.service.desired import ownership_labels
from exoccm.controllers.service.ownership import (
    Holder,
    ListedServices,
    ownership_of,
    senior_claimant,
)
from exoccm.exoscale.models import LoadBalancer

PREFIX = "service.beta.kubernetes.io/exoscale-loadbalancer-"
CLUSTER = "prod"
NLB = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"


def service(
    name: str,
    uid: str,
    *,
    namespace: str = "shop",
    created: str = "2026-01-01T00:00:00Z",
    **annotations: str,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "creationTimestamp": created,
            "annotations": {PREFIX + k.replace("_", "-"): v for k, v in annotations.items()},
        },
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30080}]},
    }


def nlb(labels: dict[str, str] | None = None) -> LoadBalancer:
    return LoadBalancer(id=NLB, name="web", ip="192.0.2.10", labels=labels or {})


CONTEXT = ServiceContext("de-muc-1", frozenset({"de-muc-1"}), CLUSTER)
HARDENED = ServiceContext("de-muc-1", frozenset({"de-muc-1"}), CLUSTER, frozenset({"infra"}))


def classify(labels: dict[str, str], uid: str, *services: dict[str, Any]) -> Holder:
    directory = ListedServices(services)
    return ownership_of(labels, cluster_id=CLUSTER, service_uid=uid, directory=directory).holder


def test_ownership_is_read_from_the_labels() -> None:
    mine = service("web", "u1")
    other = service("api", "u2")
    assert classify({}, "u1", mine) is Holder.UNMANAGED
    assert classify({"managed-by": "terraform"}, "u1", mine) is Holder.UNMANAGED
    assert (
        classify(ownership_labels(CLUSTER, "shop", "web", "u1"), "u1", mine) is Holder.THIS_SERVICE
    )
    assert (
        classify(ownership_labels(CLUSTER, "shop", "api", "u2"), "u1", mine, other)
        is Holder.OTHER_SERVICE
    )
    assert classify(ownership_labels(CLUSTER, "shop", "old", "u9"), "u1", mine) is Holder.ABANDONED
    assert (
        classify(ownership_labels("staging", "shop", "web", "u1"), "u1", mine)
        is Holder.OTHER_CLUSTER
    ), "the same UID in another cluster's labels is still another cluster's"
    labels = ownership_labels(CLUSTER, "shop", "web", "u1")
    del labels["k8s-cluster"]
    assert classify(labels, "u1", mine) is Holder.OTHER_CLUSTER


def test_the_owner_is_named_in_the_message() -> None:
    mine = service("web", "u1")
    victim = service("api", "u2", namespace="payments")
    directory = ListedServices([mine, victim])
    owned = ownership_of(
        ownership_labels(CLUSTER, "payments", "api", "u2"),
        cluster_id=CLUSTER,
        service_uid="u1",
        directory=directory,
    )
    assert owned.describe_owner() == "Service payments/api (UID u2)"
    foreign = ownership_of(
        ownership_labels("staging", "x", "y", "u3"),
        cluster_id=CLUSTER,
        service_uid="u1",
        directory=directory,
    )
    assert foreign.describe_owner() == "cluster 'staging'"


def test_the_oldest_claimant_is_senior_then_the_uid() -> None:
    old = service("a", "u9", created="2025-01-01T00:00:00Z")
    young = service("b", "u1", created="2026-01-01T00:00:00Z")
    twin = service("c", "u0", created="2025-01-01T00:00:00Z")
    assert senior_claimant([young, old]) is old
    assert senior_claimant([young, old, twin]) is twin
    assert senior_claimant([]) is None


def refuse(
    me: dict[str, Any],
    lb: LoadBalancer,
    *others: dict[str, Any],
    context: ServiceContext = CONTEXT,
    external: bool = False,
) -> str | None:
    directory = ListedServices([me, *others])
    owned = ownership_of(
        lb.labels, cluster_id=CLUSTER, service_uid=me["metadata"]["uid"], directory=directory
    )
    settings = LoadBalancerSettings({ID.suffix: lb.id, EXTERNAL.suffix: external})
    return refusal(me, settings, lb, owned, directory, context)


def test_a_service_manages_its_own_nlb() -> None:
    me = service("web", "u1", id=NLB)
    assert refuse(me, nlb(ownership_labels(CLUSTER, "shop", "web", "u1"))) is None


def test_another_services_nlb_is_refused_by_id_and_as_external() -> None:
    victim = service("api", "u2", namespace="payments", id=NLB)
    attacker = service("web", "u1", namespace="tenant", id=NLB)
    lb = nlb(ownership_labels(CLUSTER, "payments", "api", "u2"))
    for external in (False, True):
        message = refuse(attacker, lb, victim, external=external)
        assert message is not None
        assert "payments/api" in message
        assert NLB in message


def test_another_clusters_nlb_is_refused() -> None:
    me = service("web", "u1", id=NLB)
    message = refuse(me, nlb(ownership_labels("staging", "shop", "web", "u7")))
    assert message is not None
    assert "cluster 'staging'" in message


def test_an_unmanaged_nlb_is_adopted_by_its_oldest_claimant_only() -> None:
    lb = nlb()
    first = service("first", "u1", created="2026-01-01T00:00:00Z", id=NLB)
    second = service("second", "u2", created="2026-02-01T00:00:00Z", id=NLB)
    assert refuse(first, lb, second) is None
    message = refuse(second, lb, first)
    assert message is not None
    assert "shop/first" in message
    assert "claimed it first" in message


def test_an_nlb_shared_as_external_is_not_adopted() -> None:
    lb = nlb()
    sharer = service("sharer", "u1", created="2025-01-01T00:00:00Z", id=NLB, external="true")
    owner = service("owner", "u2", created="2026-01-01T00:00:00Z", id=NLB)
    message = refuse(owner, lb, sharer)
    assert message is not None
    assert "used as an external NLB by Service shop/sharer" in message
    assert refuse(sharer, lb, owner, external=True) is None, "sharing stays allowed"


def test_an_abandoned_nlb_is_adopted_by_the_service_naming_it() -> None:
    """A backup restore gives Services new UIDs: the NLB their id names carries the old one."""
    restored = service("web", "new-uid", id=NLB)
    assert refuse(restored, nlb(ownership_labels(CLUSTER, "shop", "web", "old-uid"))) is None


@pytest.mark.parametrize("external", [False, True])
def test_restricted_namespaces_may_not_use_existing_nlbs(external: bool) -> None:
    me = service("web", "u1", namespace="tenant", id=NLB)
    message = refuse(me, nlb(), context=HARDENED, external=external)
    assert message is not None
    assert "namespace tenant" in message
    assert "EXOCCM_EXISTING_NLB_NAMESPACES" in message
    trusted = service("web", "u1", namespace="infra", id=NLB)
    assert refuse(trusted, nlb(), context=HARDENED, external=external) is None


def test_restricted_namespaces_keep_their_own_nlbs() -> None:
    me = service("web", "u1", namespace="tenant", id=NLB)
    own = nlb(ownership_labels(CLUSTER, "tenant", "web", "u1"))
    assert refuse(me, own, context=HARDENED) is None
    assert refuse(me, own, context=HARDENED, external=True) is not None, (
        "declaring it external hands it to the user: not for restricted namespaces"
    )
