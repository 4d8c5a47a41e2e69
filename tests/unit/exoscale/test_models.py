"""Models: kebab-case aliases, tolerance of unknown fields, and clear errors for bad bodies."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from exoccm.exoscale.errors import MalformedResponseError
from exoccm.exoscale.models import (
    Healthcheck,
    Instance,
    InstanceList,
    InstanceType,
    LoadBalancer,
    LoadBalancerList,
    LoadBalancerServiceSpec,
    Operation,
    SksCluster,
)
from exoccm.exoscale.responses import parse_model

POOL = "a1b2c3d4-0000-4000-8000-000000000001"

NLB_BODY: dict[str, Any] = {
    "id": "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab",
    "name": "k8s-nlb",
    "state": "running",
    "created-at": "2024-01-01T12:00:00Z",
    "ip": "194.182.160.1",
    "labels": {"exoccm.io/service-uid": "u1"},
    "some-future-field": {"nested": True},
    "services": [
        {
            "id": "9a8b7c6d-0000-4111-8222-333344445555",
            "name": "u1-80",
            "protocol": "tcp",
            "strategy": "round-robin",
            "port": 80,
            "target-port": 30080,
            "instance-pool": {"id": POOL, "name": "ignored"},
            "healthcheck": {"mode": "tcp", "port": 30080, "interval": 10, "tls-sni": "x.test"},
            "healthcheck-status": [{"public-ip": "203.0.113.1", "status": "success"}],
            "state": "running",
        }
    ],
}


def test_load_balancer_reads_kebab_case_and_ignores_unknown_fields() -> None:
    lb = parse_model(
        LoadBalancer, orjson.dumps(NLB_BODY), operation="get-load-balancer", zone="ch-gva-2"
    )
    service = lb.services[0]
    assert service.target_port == 30080
    assert service.instance_pool_id == POOL
    assert service.healthcheck is not None
    assert service.healthcheck.tls_sni == "x.test"
    assert service.healthcheck_status[0].public_ip == "203.0.113.1"
    assert lb.created_at is not None
    assert lb.created_at.year == 2024
    assert lb.labels == {"exoccm.io/service-uid": "u1"}
    assert lb.service_named("u1-80") is service
    assert lb.service_by_id(service.id) is service
    assert lb.service_named("nope") is None


def test_missing_required_field_names_operation_and_field() -> None:
    body = {**NLB_BODY, "services": [{**NLB_BODY["services"][0]}]}
    del body["services"][0]["target-port"]
    with pytest.raises(MalformedResponseError) as info:
        parse_model(
            LoadBalancer, orjson.dumps(body), operation="get-load-balancer", zone="ch-gva-2"
        )
    text = str(info.value)
    assert text.startswith("get-load-balancer in ch-gva-2: ")
    assert "services.0.target-port: Field required" in text


def test_wrong_type_is_malformed_not_a_crash() -> None:
    with pytest.raises(MalformedResponseError, match=r"port: Input should be a valid integer"):
        parse_model(
            LoadBalancer,
            orjson.dumps({**NLB_BODY, "services": [{**NLB_BODY["services"][0], "port": "eighty"}]}),
            operation="get-load-balancer",
            zone="ch-gva-2",
        )


def test_list_without_its_key_is_malformed() -> None:
    with pytest.raises(MalformedResponseError, match="load-balancers: Field required"):
        parse_model(LoadBalancerList, b"{}", operation="list-load-balancers", zone="ch-gva-2")


def test_non_object_body_is_malformed() -> None:
    with pytest.raises(MalformedResponseError, match="list-load-balancers in ch-gva-2"):
        parse_model(LoadBalancerList, b"[1, 2]", operation="list-load-balancers", zone="ch-gva-2")


def test_broken_json_is_malformed() -> None:
    with pytest.raises(MalformedResponseError, match=r"not valid JSON \(EOF .* column 7\)$"):
        parse_model(Operation, b'{"id": ', operation="get-operation", zone="de-muc-1")


def test_empty_body_is_malformed() -> None:
    with pytest.raises(
        MalformedResponseError,
        match="get-operation in de-muc-1: response body is empty, expected Operation JSON",
    ):
        parse_model(Operation, b"", operation="get-operation", zone="de-muc-1")


def test_operation_state_is_validated() -> None:
    op = Operation.model_validate({"id": "x", "state": "success", "reference": {"id": "y"}})
    assert op.done
    with pytest.raises(MalformedResponseError, match="state: Input should be"):
        parse_model(
            Operation, b'{"id": "x", "state": "exploded"}', operation="get-operation", zone="z"
        )


def test_malformed_error_does_not_echo_values() -> None:
    body = {**NLB_BODY, "name": {"secret-looking": "s3cr3t-value"}}
    with pytest.raises(MalformedResponseError) as info:
        parse_model(LoadBalancer, orjson.dumps(body), operation="get-load-balancer", zone="z")
    assert "s3cr3t-value" not in str(info.value)


def test_service_spec_serializes_to_the_api_body() -> None:
    spec = LoadBalancerServiceSpec(
        name="k8s-svc-80",
        instance_pool_id=POOL,
        protocol="tcp",
        strategy="round-robin",
        port=80,
        target_port=30080,
        healthcheck=Healthcheck(mode="tcp", port=30080, interval=10, timeout=5, retries=1),
    )
    # Reference vector V5's body (same content; key order is irrelevant to the API).
    assert spec.to_api() == orjson.loads(
        '{"name":"k8s-svc-80","instance-pool":{"id":"' + POOL + '"},"protocol":"tcp",'
        '"strategy":"round-robin","port":80,"target-port":30080,'
        '"healthcheck":{"mode":"tcp","port":30080,"interval":10,"timeout":5,"retries":1}}'
    )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"port": 0}, "port"),
        ({"target_port": 70000}, "target_port"),
        ({"protocol": "sctp"}, "protocol"),
        ({"name": ""}, "name"),
        ({"healthcheck": Healthcheck(interval=4)}, "interval 4 is outside 5..300"),
        ({"healthcheck": Healthcheck(interval=10, timeout=20)}, "timeout 20 exceeds interval 10"),
        ({"healthcheck": Healthcheck(retries=21)}, "retries 21 is outside 1..20"),
        ({"healthcheck": Healthcheck(mode="udp")}, "mode 'udp'"),
    ],
)
def test_service_spec_rejects_values_the_api_would(changes: dict[str, Any], problem: str) -> None:
    args: dict[str, Any] = {
        "name": "svc",
        "instance_pool_id": POOL,
        "protocol": "tcp",
        "strategy": "round-robin",
        "port": 80,
        "target_port": 30080,
        "healthcheck": Healthcheck(mode="tcp"),
    }
    with pytest.raises(ValidationError, match=problem):
        LoadBalancerServiceSpec(**(args | changes))


def test_instance_helpers() -> None:
    instance = Instance.model_validate(
        {"id": "i", "name": "n", "manager": {"id": "p", "type": "instance-pool"}}
    )
    assert instance.instance_pool_id == "p"
    sks = Instance.model_validate(
        {"id": "i", "name": "n", "manager": {"id": "p", "type": "sks-nodepool"}}
    )
    assert sks.instance_pool_id is None
    assert InstanceType.model_validate({"id": "t", "family": "gpu3", "size": "huge"}).name == (
        "gpu3.huge"
    )


def test_a_listing_shares_the_pool_and_type_its_instances_repeat() -> None:
    def listed(number: int, pool: str) -> dict[str, Any]:
        return {
            "id": f"i-{number}",
            "name": f"node-{number}",
            "state": "running",
            "public-ip-assignment": "inet4",
            "manager": {"id": pool, "type": "instance-pool"},
            "instance-type": {"id": "t-medium"},
        }

    body = orjson.dumps({"instances": [listed(1, "p-1"), listed(2, "p-1"), listed(3, "p-2")]})
    first, second, other = parse_model(
        InstanceList, body, operation="list-instances", zone="de-muc-1"
    ).instances
    assert first.manager is second.manager
    assert first.instance_type is second.instance_type is other.instance_type
    assert first.state is other.state
    assert first.public_ip_assignment is other.public_ip_assignment
    # Equal values are shared, different ones are not mixed up.
    assert other.manager is not first.manager
    assert other.instance_pool_id == "p-2"
    assert second.instance_pool_id == "p-1"
    # A later listing reuses what the live one holds.
    again = Instance.model_validate(listed(4, "p-2"))
    assert again.manager is other.manager


def test_nlb_services_share_the_pool_they_target() -> None:
    def nlb(number: int) -> dict[str, Any]:
        service = {**NLB_BODY["services"][0], "id": f"s-{number}", "name": f"u{number}-80"}
        return {**NLB_BODY, "id": f"lb-{number}", "services": [service]}

    body = orjson.dumps({"load-balancers": [nlb(1), nlb(2)]})
    first, second = parse_model(
        LoadBalancerList, body, operation="list-load-balancers", zone="ch-gva-2"
    ).load_balancers
    one, two = first.services[0], second.services[0]
    assert one.instance_pool is two.instance_pool
    assert one.instance_pool_id == POOL
    assert one.protocol is two.protocol
    assert one.state is two.state
    assert one.id != two.id


def test_a_shared_reference_is_forgotten_with_its_last_instance() -> None:
    instance = Instance.model_validate(
        {"id": "i", "name": "n", "manager": {"id": "p-gone", "type": "instance-pool"}}
    )
    assert instance.manager is not None
    held = weakref.ref(instance.manager)
    assert held() is not None
    del instance
    gc.collect()
    assert held() is None


def test_nodepool_lookup_is_case_insensitive() -> None:
    cluster = SksCluster.model_validate(
        {
            "id": "c",
            "name": "prod",
            "nodepools": [{"id": "np", "name": "Workers", "instance-pool": {"id": POOL}}],
        }
    )
    pool = cluster.nodepool_named("workers")
    assert pool is not None
    assert pool.instance_pool is not None
    assert pool.instance_pool.id == POOL
