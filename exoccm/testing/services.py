"""Pieces of Services and NLB calls shared by the end-to-end tests, the fault campaign and the
benchmarks: the Exoscale operations that change an NLB, and a Service port entry."""

from __future__ import annotations

from typing import Any

#: Every Exoscale operation that changes an NLB (what "a cloud write" means in the checks).
NLB_WRITE_OPERATIONS = frozenset(
    {
        "create-load-balancer",
        "update-load-balancer",
        "delete-load-balancer",
        "reset-load-balancer-field",
        "add-service-to-load-balancer",
        "update-load-balancer-service",
        "delete-load-balancer-service",
        "reset-load-balancer-service-field",
    }
)
#: Every Exoscale operation on NLBs, reads included.
NLB_OPERATIONS = NLB_WRITE_OPERATIONS | {
    "list-load-balancers",
    "get-load-balancer",
    "get-load-balancer-service",
}


def service_port(
    number: int, protocol: str = "TCP", *, node_port: int | None = None
) -> dict[str, Any]:
    """One entry of a Service's ``spec.ports``, named after its protocol and number."""
    entry: dict[str, Any] = {
        "name": f"{protocol.lower()}-{number}",
        "port": number,
        "targetPort": number,
        "protocol": protocol,
    }
    if node_port is not None:
        entry["nodePort"] = node_port
    return entry
