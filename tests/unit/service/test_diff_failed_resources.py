"""NLBs and NLB services left in state ``error`` by a failed operation get a repairing write.

Found by the fault campaign (``chaos/``): a failed create-load-balancer left the NLB in
``error`` for ever, and a failed add-service-to-load-balancer left the service in ``error`` with
exactly the wanted values, so the plan found nothing to change and the Service counted as
converged. A successful write returns a failed resource to service, so the plan re-sends one.
"""

from __future__ import annotations

import pytest

from exoccm.controllers.service.desired import (
    DesiredLoadBalancer,
    DesiredService,
)
from exoccm.controllers.service.diff import (
    DeleteService,
    UpdateLoadBalancer,
    UpdateService,
    plan_changes,
)
from exoccm.exoscale.models import Healthcheck, LoadBalancer, LoadBalancerService, Ref

UID = "0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11"
POOL = "a1b2c3d4-0000-4000-8000-000000000001"
HC = Healthcheck(mode="tcp", port=30080, interval=10, timeout=5, retries=1)
SVC = DesiredService(f"{UID}-80", "", "tcp", 80, 30080, "round-robin", HC, POOL)


def desired(*, external: bool = False) -> DesiredLoadBalancer:
    labels = {} if external else {"k8s-service-uid": UID, "managed-by": "exoccm"}
    return DesiredLoadBalancer("de-muc-1", f"k8s-{UID}", "", external, (SVC,), labels)


def observed(nlb_state: str = "running", service_state: str = "running") -> LoadBalancer:
    service = LoadBalancerService(
        id="s1",
        name=SVC.name,
        protocol="tcp",
        strategy="round-robin",
        port=80,
        target_port=30080,
        instance_pool=Ref(id=POOL),
        healthcheck=Healthcheck(mode="tcp", port=30080, interval=10, timeout=5, retries=1),
        state=service_state,
    )
    return LoadBalancer(
        id="lb",
        name=f"k8s-{UID}",
        state=nlb_state,
        labels={"k8s-service-uid": UID, "managed-by": "exoccm"},
        services=(service,),
    )


def test_a_converged_nlb_needs_nothing() -> None:
    assert plan_changes(desired(), observed(), service_uid=UID).steps == ()


def test_a_failed_nlb_gets_its_name_sent_again() -> None:
    plan = plan_changes(desired(), observed(nlb_state="error"), service_uid=UID)
    assert plan.steps == (UpdateLoadBalancer(name=f"k8s-{UID}"),)


def test_a_failed_service_with_the_right_values_is_updated_again() -> None:
    plan = plan_changes(desired(), observed(service_state="error"), service_uid=UID)
    assert plan.steps == (UpdateService("s1", SVC, ("state",)),)


@pytest.mark.parametrize("state", ["creating", "updating", "deleting", None])
def test_operations_in_progress_are_left_alone(state: str | None) -> None:
    lb = observed()
    lb = lb.model_copy(
        update={
            "state": state,
            "services": (lb.services[0].model_copy(update={"state": state}),),
        }
    )
    assert plan_changes(desired(), lb, service_uid=UID).steps == ()


def test_a_failed_external_nlb_is_not_ours_to_touch() -> None:
    theirs = observed(nlb_state="error").model_copy(update={"labels": {"team": "web"}})
    assert plan_changes(desired(external=True), theirs, service_uid=UID).steps == ()


@pytest.mark.parametrize(
    ("state", "deleted"), [("running", True), ("error", True), ("deleting", False)]
)
def test_an_unwanted_service_is_deleted_once(state: str, deleted: bool) -> None:
    """A deletion whose operation outlived our deadline is under way: sending it again only
    gets 409s until it ends (seen in every five-minute campaign)."""
    lb = observed()
    extra = lb.services[0].model_copy(
        update={"id": "s2", "name": f"{UID}-443", "port": 443, "state": state}
    )
    lb = lb.model_copy(update={"services": (*lb.services, extra)})
    steps = plan_changes(desired(), lb, service_uid=UID).steps
    wanted = (DeleteService("s2", f"{UID}-443", "no Service port matches it"),) if deleted else ()
    assert steps == wanted
