"""What the kube-proxy and website stand-ins serve, from plain objects (exoccm.testing)."""

from __future__ import annotations

from typing import Any

from exoccm.testing.cluster_state import (
    Endpoint,
    HealthRoute,
    Site,
    node_address,
    node_plans,
    website_sites,
)


def node(name: str, *addresses: tuple[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {"addresses": [{"type": t, "address": a} for t, a in addresses]},
    }


def service(name: str, *, local: bool = False, health_port: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "externalTrafficPolicy": "Local" if local else "Cluster",
        "ports": [
            {"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"},
            {"name": "dns", "port": 53, "nodePort": 30053, "protocol": "UDP"},
            {"name": "admin", "port": 9000, "nodePort": 30900, "protocol": "TCP"},
        ],
    }
    if health_port:
        spec["healthCheckNodePort"] = health_port
    return {"metadata": {"namespace": "web", "name": name}, "spec": spec}


def endpoint_slice(
    service_name: str, *endpoints: dict[str, Any], name: str = "s1"
) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "web",
            "name": name,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": list(endpoints),
    }


def endpoint(ip: str, node_name: str, ready: bool | None = True) -> dict[str, Any]:
    conditions = {} if ready is None else {"ready": ready}
    return {"addresses": [ip], "nodeName": node_name, "conditions": conditions}


NODES = [node("a", ("InternalIP", "127.20.0.1")), node("b", ("InternalIP", "127.20.0.2"))]
SLICE = endpoint_slice(
    "website",
    endpoint("127.30.0.1", "a"),
    endpoint("127.30.0.2", "a", ready=None),  # unknown counts as ready
    endpoint("127.30.0.3", "b"),
    endpoint("127.30.0.4", "b", ready=False),
)


def test_the_node_address_is_the_external_ip_else_the_internal_one_on_loopback() -> None:
    assert node_address(node("n", ("InternalIP", "127.1.0.1"), ("ExternalIP", "127.2.0.1"))) == (
        "127.2.0.1"
    )
    assert node_address(node("n", ("Hostname", "n"), ("InternalIP", "127.1.0.1"))) == "127.1.0.1"
    assert node_address(node("n", ("ExternalIP", "203.0.113.7"))) is None  # never off loopback
    assert node_address(node("n")) is None


def test_cluster_policy_forwards_every_nodeport_to_all_ready_endpoints() -> None:
    plans = node_plans(NODES, [service("website")], [SLICE])
    for name in ("a", "b"):
        route = plans[name].ports[30080]
        assert route.service == "web/website"
        assert route.endpoints == (
            Endpoint("127.30.0.1", 8080, "a"),
            Endpoint("127.30.0.2", 8080, "a"),
            Endpoint("127.30.0.3", 8080, "b"),
        )
        assert 30053 not in plans[name].ports  # UDP is not served by the stand-in
        assert plans[name].ports[30900].endpoints == ()  # no slice port named "admin"
        assert plans[name].health == {}
    assert plans["a"].address == "127.20.0.1"


def test_local_policy_keeps_local_endpoints_and_reports_them_on_the_health_port() -> None:
    plans = node_plans(
        [*NODES, node("c", ("InternalIP", "127.20.0.3"))],
        [service("website", local=True, health_port=32000)],
        [SLICE],
    )
    assert [e.ip for e in plans["a"].ports[30080].endpoints] == ["127.30.0.1", "127.30.0.2"]
    assert [e.ip for e in plans["b"].ports[30080].endpoints] == ["127.30.0.3"]
    assert plans["c"].ports[30080].endpoints == ()
    assert plans["a"].health == {32000: HealthRoute("web", "website", 2)}
    assert plans["b"].health == {32000: HealthRoute("web", "website", 1)}
    assert plans["c"].health == {32000: HealthRoute("web", "website", 0)}


def test_slices_of_other_services_and_cluster_ip_services_are_ignored() -> None:
    other = endpoint_slice("other", endpoint("127.30.0.9", "a"), name="s2")
    internal = {"metadata": {"namespace": "web", "name": "db"}, "spec": {"type": "ClusterIP"}}
    plans = node_plans(NODES, [service("website"), internal], [SLICE, other])
    assert set(plans["a"].ports) == {30080, 30900}
    assert "127.30.0.9" not in {e.ip for e in plans["a"].ports[30080].endpoints}


def pod(
    name: str,
    *,
    phase: str = "Running",
    ip: str | None = "127.30.0.1",
    image: str = "hello-corp/website:latest",
    ports: list[dict[str, Any]] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "web", "name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {"phase": phase}
    if ip:
        status["podIP"] = ip
    container: dict[str, Any] = {"name": "c", "image": image}
    if ports is not None:
        container["ports"] = ports
    return {"metadata": meta, "spec": {"containers": [container]}, "status": status}


def test_running_website_pods_are_served_on_their_ip_and_port() -> None:
    sites = website_sites(
        [
            pod("declared", ports=[{"containerPort": 8080}]),
            pod("default", ip="127.30.0.2"),
            pod("pending", phase="Pending"),
            pod("no-ip", ip=None),
            pod("other-image", image="nginx:1.27"),
            pod("terminating", deleting=True),
        ]
    )
    assert sites == {
        ("web", "declared"): Site("web", "declared", "127.30.0.1", 8080),
        ("web", "default"): Site("web", "default", "127.30.0.2", 80),
    }
    assert sites[("web", "default")].served_by == "127.30.0.2:80@default"
