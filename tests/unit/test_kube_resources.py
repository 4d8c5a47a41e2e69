from __future__ import annotations

from exoccm.kube.errors import (
    KubeConflictError,
    KubeGoneError,
    KubeServerError,
    KubeTooManyRequestsError,
    from_status,
)
from exoccm.kube.objects import key_of, split_key
from exoccm.kube.resources import LEASES, NODES, SERVICES


def test_paths() -> None:
    assert NODES.path() == "/api/v1/nodes"
    assert NODES.path(name="n1", subresource="status") == "/api/v1/nodes/n1/status"
    assert SERVICES.path("ns") == "/api/v1/namespaces/ns/services"
    assert SERVICES.path() == "/api/v1/services"
    assert LEASES.path("kube-system", "exoccm") == (
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/exoccm"
    )


def test_keys() -> None:
    assert key_of({"metadata": {"name": "a", "namespace": "ns"}}) == "ns/a"
    assert key_of({"metadata": {"name": "node"}}) == "node"
    assert split_key("ns/a") == ("ns", "a")
    assert split_key("node") == ("", "node")


def test_status_mapping() -> None:
    assert isinstance(from_status(410, {"reason": "Expired"}), KubeGoneError)
    conflict = from_status(409, {"reason": "AlreadyExists", "message": "exists"})
    assert isinstance(conflict, KubeConflictError)
    assert conflict.already_exists
    throttled = from_status(429, {}, retry_after=3.0)
    assert isinstance(throttled, KubeTooManyRequestsError)
    assert throttled.retry_after == 3.0
    assert isinstance(from_status(503, b"oops"), KubeServerError)
    # A watch ERROR event's Status code wins over the HTTP 200 it arrived in.
    assert isinstance(from_status(200, {"code": 410, "reason": "Expired"}), KubeGoneError)
