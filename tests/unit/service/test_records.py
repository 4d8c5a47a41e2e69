"""The record of NLB services a Service created on external NLBs, kept in its status."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from exoccm.controllers.service import records
from exoccm.controllers.service.diff import created_by
from exoccm.exoscale.models import LoadBalancer, LoadBalancerService

NLB = "lb-1"
NOW = "2026-12-05T10:00:00Z"


def with_condition(condition: dict[str, Any] | None, ip: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if condition is not None:
        status["conditions"] = [{"type": "Ready", "status": "True"}, condition]
    if ip:
        status["loadBalancer"] = {"ingress": [{"ip": ip}]}
    return {"metadata": {"uid": "u1"}, "status": status}


claims = st.frozensets(
    st.tuples(
        st.text(min_size=1, max_size=20), st.integers(1, 65535), st.sampled_from(["tcp", "udp"])
    ),
    max_size=5,
)


@given(st.dictionaries(st.text(min_size=1, max_size=10), claims, max_size=3))
def test_a_record_reads_back_as_written(record: dict[str, frozenset[tuple[str, int, str]]]) -> None:
    service = with_condition(records.condition_for(record, NOW))
    assert records.record_of(service) == record
    assert records.has_record(service)


def test_no_or_unreadable_record_claims_nothing() -> None:
    assert records.record_of(with_condition(None)) == {}
    assert not records.has_record(with_condition(None))
    broken = records.condition_for({NLB: frozenset({("web", 80, "tcp")})}, NOW)
    broken["message"] = "edited by hand {"
    assert records.record_of(with_condition(broken)) == {}
    assert records.has_record(with_condition(broken)), "a record, even unreadable, stays one"


def test_the_condition_is_valid_for_the_apiserver() -> None:
    condition = records.condition_for({NLB: frozenset({("web", 80, "tcp")})}, NOW)
    assert set(condition) == {"type", "status", "reason", "message", "lastTransitionTime"}
    assert condition["status"] in ("True", "False", "Unknown")
    assert condition["reason"].isalnum()


def nlb_service(name: str, port: int) -> LoadBalancerService:
    return LoadBalancerService(id=name, name=name, protocol="tcp", port=port, target_port=30000)


def test_legacy_claims_only_for_a_service_the_nlb_already_serves_without_a_record() -> None:
    lb = LoadBalancer(id=NLB, name="shared", ip="192.0.2.1", services=(nlb_service("web", 80),))
    wanted = [("web", 80, "tcp"), ("api", 443, "tcp")]
    served = with_condition(None, ip="192.0.2.1")
    assert records.legacy_claims(served, lb, wanted) == {("web", 80, "tcp")}
    assert records.legacy_claims(with_condition(None), lb, wanted) == frozenset()
    other_ip = with_condition(None, ip="192.0.2.99")
    assert records.legacy_claims(other_ip, lb, wanted) == frozenset()
    recorded = with_condition(records.condition_for({}, NOW), ip="192.0.2.1")
    assert records.legacy_claims(recorded, lb, wanted) == frozenset(), "once recorded, never again"


@given(st.text(min_size=1, max_size=30), st.integers(1, 65535))
def test_a_name_alone_never_makes_an_nlb_service_ours(name: str, port: int) -> None:
    theirs = nlb_service(name, port)
    if name.startswith("u1-"):
        assert created_by("u1", theirs, ())
    else:
        assert not created_by("u1", theirs, ())
        assert created_by("u1", theirs, {(name, port, "tcp")})
        assert not created_by("u1", theirs, {(name, port + 1 if port < 65535 else 1, "tcp")})
