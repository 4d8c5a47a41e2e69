"""Property tests of the plan: it converges in one application and never touches what is not ours."""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from exoccm.controllers.service.desired import (
    DesiredLoadBalancer,
    DesiredService,
)
from exoccm.controllers.service.diff import (
    AddService,
    CreateLoadBalancer,
    DeleteLoadBalancer,
    DeleteService,
    Plan,
    ResetLoadBalancerDescription,
    ResetServiceDescription,
    UpdateLoadBalancer,
    UpdateService,
    plan_changes,
    plan_deletion,
    port_conflicts,
)
from exoccm.exoscale.models import Healthcheck, LoadBalancer, LoadBalancerService, Ref

UID = "0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11"
POOLS = ("a1b2c3d4-0000-4000-8000-000000000001", "a1b2c3d4-0000-4000-8000-000000000002")
_ids = itertools.count()


def _new_id() -> str:
    return f"00000000-0000-4000-8000-{next(_ids):012d}"


ports = st.integers(1, 65535)
protocols = st.sampled_from(["tcp", "udp"])
texts = st.text(alphabet="abc-", max_size=5)

healthchecks = st.builds(
    Healthcheck,
    mode=st.sampled_from(["tcp", "http", "https"]),
    port=ports,
    interval=st.integers(5, 300),
    timeout=st.integers(2, 5),
    retries=st.integers(1, 20),
    uri=st.sampled_from([None, "/", "/healthz"]),
    tls_sni=st.sampled_from([None, "example.com"]),
)


@st.composite
def desired_services(draw: st.DrawFn, owner: str = UID) -> DesiredService:
    port = draw(ports)
    protocol = draw(protocols)
    return DesiredService(
        name=draw(st.sampled_from([f"{owner}-{port}", f"{owner}-{port}-{protocol}", "custom"])),
        description=draw(texts),
        protocol=protocol,
        port=port,
        target_port=draw(st.integers(30000, 32767)),
        strategy=draw(st.sampled_from(["round-robin", "source-hash", "maglev-hash"])),
        healthcheck=draw(healthchecks),
        instance_pool_id=draw(st.sampled_from(POOLS)),
    )


def _unique(services: list[DesiredService]) -> tuple[DesiredService, ...]:
    seen: dict[tuple[int, str], DesiredService] = {}
    for svc in services:
        seen.setdefault(svc.key, svc)
    return tuple(seen.values())


@st.composite
def desired_lbs(draw: st.DrawFn, external: bool | None = None) -> DesiredLoadBalancer:
    is_external = draw(st.booleans()) if external is None else external
    return DesiredLoadBalancer(
        zone="de-muc-1",
        name=draw(st.sampled_from([f"k8s-{UID}", "renamed"])),
        description=draw(texts),
        external=is_external,
        services=_unique(draw(st.lists(desired_services(), max_size=5))),
        labels={} if is_external else {"k8s-service-uid": UID, "managed-by": "exoccm"},
    )


def _observed_service(svc: DesiredService, service_id: str | None = None) -> LoadBalancerService:
    return LoadBalancerService(
        id=service_id or _new_id(),
        name=svc.name,
        description=svc.description or None,
        protocol=svc.protocol,
        strategy=svc.strategy,
        port=svc.port,
        target_port=svc.target_port,
        instance_pool=Ref(id=svc.instance_pool_id),
        healthcheck=svc.healthcheck,
        state="running",
    )


@st.composite
def observed_lbs(draw: st.DrawFn) -> LoadBalancer:
    """Anything: ours with drift, someone else's services mixed in, stray labels."""
    mine = [_observed_service(s) for s in draw(st.lists(desired_services(), max_size=4))]
    theirs = [
        _observed_service(s)
        for s in draw(st.lists(desired_services(owner="ffffffff-other-service"), max_size=3))
    ]
    services: dict[tuple[int, str], LoadBalancerService] = {}
    for svc in mine + theirs:
        services.setdefault((svc.port, svc.protocol), svc)
    return LoadBalancer(
        id=_new_id(),
        name=draw(st.sampled_from([f"k8s-{UID}", "console-name"])),
        description=draw(st.sampled_from([None, "", "edited"])),
        ip="194.182.160.10",
        state="running",
        services=tuple(services.values()),
        labels=draw(st.dictionaries(st.sampled_from(["k8s-service-uid", "team"]), texts)),
    )


def apply_plan(observed: LoadBalancer | None, plan: Plan) -> LoadBalancer:
    """What the API does with each step: a model of the NLB endpoints' semantics."""
    lb = observed
    for step in plan.steps:
        match step:
            case CreateLoadBalancer(name=name, description=description, labels=labels):
                assert lb is None
                lb = LoadBalancer(
                    id=_new_id(), name=name, description=description or None, labels=dict(labels)
                )
            case UpdateLoadBalancer(name=name, description=description, labels=labels):
                assert lb is not None
                lb = lb.model_copy(
                    update={
                        "name": name if name is not None else lb.name,
                        "description": description if description is not None else lb.description,
                        "labels": dict(labels) if labels is not None else lb.labels,
                    }
                )
            case ResetLoadBalancerDescription():
                assert lb is not None
                lb = lb.model_copy(update={"description": None})
            case AddService(service=svc):
                assert lb is not None
                assert all((s.port, s.protocol) != svc.key for s in lb.services), "duplicate port"
                lb = lb.model_copy(update={"services": (*lb.services, _observed_service(svc))})
            case UpdateService(service_id=sid, service=svc):
                assert lb is not None
                current = lb.service_by_id(sid)
                assert current is not None
                assert current.instance_pool_id == svc.instance_pool_id, "pool is immutable"
                updated = _observed_service(svc, sid)
                if not svc.description:  # an empty description is not sent; reset clears it
                    updated = updated.model_copy(update={"description": current.description})
                lb = lb.model_copy(
                    update={"services": tuple(updated if s.id == sid else s for s in lb.services)}
                )
            case ResetServiceDescription(service_id=sid):
                assert lb is not None
                lb = lb.model_copy(
                    update={
                        "services": tuple(
                            s.model_copy(update={"description": None}) if s.id == sid else s
                            for s in lb.services
                        )
                    }
                )
            case DeleteService(service_id=sid):
                assert lb is not None
                assert lb.service_by_id(sid) is not None
                lb = lb.model_copy(
                    update={"services": tuple(s for s in lb.services if s.id != sid)}
                )
            case DeleteLoadBalancer():
                raise AssertionError("plan_changes never deletes the NLB")
    assert lb is not None
    return lb


@settings(max_examples=300)
@given(desired=desired_lbs(), observed=st.none() | observed_lbs())
def test_applying_the_plan_converges_in_one_round(
    desired: DesiredLoadBalancer, observed: LoadBalancer | None
) -> None:
    # External NLBs are never created, and another Service's port of a shared NLB is refused
    # before planning: the controller reports both cases instead.
    assume(not (observed is None and desired.external))
    assume(not port_conflicts(desired, observed, service_uid=UID))
    result = apply_plan(observed, plan_changes(desired, observed, service_uid=UID))
    assert not plan_changes(desired, result, service_uid=UID)
    for svc in desired.services:
        got = next(s for s in result.services if (s.port, s.protocol) == svc.key)
        assert got.instance_pool_id == svc.instance_pool_id
        assert got.target_port == svc.target_port
        assert got.healthcheck is not None
        assert got.healthcheck.port == svc.healthcheck.port


@given(desired=desired_lbs())
def test_a_converged_nlb_needs_no_change(desired: DesiredLoadBalancer) -> None:
    observed = LoadBalancer(
        id=_new_id(),
        name=desired.name,
        description=desired.description or None,
        labels={**desired.labels, "added-in-console": "x"},
        services=tuple(_observed_service(s) for s in desired.services),
    )
    assert plan_changes(desired, observed, service_uid=UID).steps == ()


@given(desired=desired_lbs(external=True), observed=observed_lbs())
def test_external_nlbs_only_lose_this_services_ports(
    desired: DesiredLoadBalancer, observed: LoadBalancer
) -> None:
    plan = plan_changes(desired, observed, service_uid=UID)
    for step in plan.steps:
        assert not isinstance(step, (DeleteLoadBalancer, UpdateLoadBalancer))
        if isinstance(step, DeleteService):
            # A desired name is no claim: only the UID prefix (or a record) makes it ours.
            assert step.name.startswith(f"{UID}-")
    deletion = plan_deletion(observed, whole=False, service_uid=UID)
    assert all(isinstance(s, DeleteService) for s in deletion.steps)
    assert all(s.name.startswith(f"{UID}-") for s in deletion.steps)  # type: ignore[union-attr]


def test_pool_change_recreates_the_service() -> None:
    hc = Healthcheck(mode="tcp", port=30080, interval=10, timeout=5, retries=1)
    svc = DesiredService(f"{UID}-80", "", "tcp", 80, 30080, "round-robin", hc, POOLS[0])
    desired = DesiredLoadBalancer("de-muc-1", f"k8s-{UID}", "", False, (svc,), {})
    observed = LoadBalancer(
        id="lb",
        name=f"k8s-{UID}",
        services=(_observed_service(replace(svc, instance_pool_id=POOLS[1]), "s1"),),
    )
    plan = plan_changes(desired, observed, service_uid=UID)
    assert [type(s) for s in plan.steps] == [DeleteService, AddService]


def test_owned_nlb_deletion_deletes_the_nlb() -> None:
    observed = LoadBalancer(id="lb", name="k8s-x")
    plan = plan_deletion(observed, whole=True, service_uid=UID)
    assert plan.steps == (DeleteLoadBalancer("lb", "k8s-x"),)
