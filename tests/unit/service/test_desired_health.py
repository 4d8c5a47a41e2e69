"""The health check a Service gets, for each traffic policy (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from exoccm.controllers.service.annotations import parse_annotations
from exoccm.controllers.service.desired import desired_load_balancer
from exoccm.exoscale.models import Healthcheck

PREFIX = "service.beta.kubernetes.io/exoscale-loadbalancer-"


def health(policy: str, **annotations: str) -> Healthcheck:
    service: dict[str, Any] = {
        "metadata": {"uid": "u1", "name": "web", "namespace": "shop"},
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": policy,
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
        },
    }
    if policy == "Local":
        service["spec"]["healthCheckNodePort"] = 31999
    settings, problems = parse_annotations(
        {PREFIX + k.replace("_", "-"): v for k, v in annotations.items()},
        known_zones={"de-muc-1"},
    )
    assert problems == []
    desired = desired_load_balancer(
        service, settings, zone="de-muc-1", instance_pool_id="pool", cluster_id="c"
    )
    return desired.services[0].healthcheck


def test_cluster_policy_checks_the_node_port_over_tcp() -> None:
    assert health("Cluster") == Healthcheck(
        mode="tcp", port=30080, interval=10, timeout=5, retries=1
    )


def test_local_policy_asks_kube_proxy_over_http() -> None:
    """kube-proxy accepts TCP on healthCheckNodePort on every Node; its HTTP answer is 503
    where the Service has no local endpoint: only HTTP keeps traffic off those Nodes."""
    assert health("Local") == Healthcheck(
        mode="http", port=31999, interval=10, timeout=5, retries=1, uri="/healthz"
    )


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        (
            {"service_healthcheck_mode": "tcp"},
            Healthcheck(mode="tcp", port=31999, interval=10, timeout=5, retries=1),
        ),
        (
            {"service_healthcheck_mode": "http", "service_healthcheck_uri": "/ready"},
            Healthcheck(mode="http", port=31999, interval=10, timeout=5, retries=1, uri="/ready"),
        ),
        (
            {"service_healthcheck_port": "32000"},
            Healthcheck(mode="tcp", port=32000, interval=10, timeout=5, retries=1),
        ),
    ],
)
def test_an_explicit_mode_or_port_is_used_as_given(
    annotations: dict[str, str], expected: Healthcheck
) -> None:
    assert health("Local", **annotations) == expected
