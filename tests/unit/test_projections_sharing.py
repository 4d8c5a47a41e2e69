"""The informers' projections store the strings many objects repeat once (interned), and project
exactly what they did before: sharing changes no value."""

from __future__ import annotations

from typing import Any

import orjson

from exoccm.controllers.projections import (
    _project_node,
    _project_service,
    project_node,
    project_service,
    share_strings,
)


def node(name: str, uid: str) -> dict[str, Any]:
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": uid,
            "resourceVersion": "17",
            "labels": {
                "kubernetes.io/hostname": name,
                "node.kubernetes.io/instance-type": "standard.large",
                "topology.kubernetes.io/zone": "de-muc-1",
            },
            "managedFields": [{"manager": "kubelet"}],
        },
        "spec": {"providerID": f"exoscale://{uid}"},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "172.16.0.9"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {"systemUUID": uid, "kernelVersion": "6.1"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady"},
            ],
            "images": [{"names": ["registry.example/app@sha256:00"], "sizeBytes": 1}],
        },
    }


def service(name: str, lb: bool) -> dict[str, Any]:
    return {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": "team-07",
            "uid": f"uid-{name}",
            "resourceVersion": "99",
            "creationTimestamp": "2026-12-05T14:07:23Z",
            "annotations": {"service.beta.kubernetes.io/exoscale-loadbalancer-zone": "de-muc-1"},
            "finalizers": ["service.kubernetes.io/load-balancer-cleanup"],
        },
        "spec": {
            "type": "LoadBalancer" if lb else "ClusterIP",
            "externalTrafficPolicy": "Cluster",
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": 30080}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}},
    }


def decoded(obj: dict[str, Any]) -> dict[str, Any]:
    """A fresh copy, as a watch event decodes it: no string shared with anything else."""
    copy: dict[str, Any] = orjson.loads(orjson.dumps(obj))
    return copy


def test_nodes_share_their_repeated_values() -> None:
    first = project_node(decoded(node("pool-a-00001", "uid-1")))
    second = project_node(decoded(node("pool-a-00002", "uid-2")))
    labels_1, labels_2 = first["metadata"]["labels"], second["metadata"]["labels"]
    zone = "topology.kubernetes.io/zone"
    assert labels_1[zone] is labels_2[zone]
    assert first["status"]["addresses"][0]["type"] is second["status"]["addresses"][0]["type"]
    assert first["status"]["conditions"][0]["status"] is second["status"]["conditions"][0]["status"]
    # One Node's name, hostname label and Hostname address are one string.
    assert first["metadata"]["name"] is labels_1["kubernetes.io/hostname"]
    assert first["metadata"]["name"] is first["status"]["addresses"][1]["address"]


def test_services_share_their_repeated_values() -> None:
    first = project_service(decoded(service("web", lb=True)))
    second = project_service(decoded(service("api", lb=True)))
    for path in (
        ("metadata", "namespace"),
        ("metadata", "creationTimestamp"),
        ("spec", "type"),
        ("spec", "externalTrafficPolicy"),
    ):
        a, b = first, second
        for key in path:
            a, b = a[key], b[key]
        assert a is b, path
    assert first["spec"]["ports"][0]["protocol"] is second["spec"]["ports"][0]["protocol"]
    assert first["metadata"]["finalizers"][0] is second["metadata"]["finalizers"][0]


def test_sharing_changes_no_value() -> None:
    a_node = node("pool-a-00001", "uid-1")
    assert project_node(decoded(a_node)) == _project_node(decoded(a_node))
    for a_service in (service("web", lb=True), service("cache", lb=False)):
        assert project_service(decoded(a_service)) == _project_service(decoded(a_service))


def test_share_strings_leaves_other_values_and_keys_alone() -> None:
    tree = {"n": 1, "f": 0.5, "b": True, "none": None, "list": [2, "x", {"k": "v"}]}
    assert share_strings(decoded(tree)) == tree
