"""What a successful NLB write leaves behind, worked out from the NLB as it was before.

A write to an existing NLB changes exactly what it sent (updates are partial: fields left out
stay; a service's health check is merged field by field; ``labels`` replace the whole map), and
its operation's success says it was applied. Given the NLB as read right before the write, the
NLB afterwards is known without reading it again. Only a write whose result carries something
the API makes up (a new NLB's IP, a new NLB service's ID) needs a read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from exoccm.exoscale.models import (
    Healthcheck,
    LoadBalancer,
    LoadBalancerService,
    LoadBalancerServiceSpec,
)


def updated(
    before: LoadBalancer,
    *,
    name: str | None = None,
    description: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> LoadBalancer:
    """After update-load-balancer with the given fields (``None``: unchanged)."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if description is not None:
        changes["description"] = description
    if labels is not None:
        changes["labels"] = dict(labels)
    return before.model_copy(update=changes)


def field_reset(before: LoadBalancer, field: Literal["description", "labels"]) -> LoadBalancer:
    """After reset-load-balancer-field."""
    return before.model_copy(
        update={"description": None} if field == "description" else {"labels": {}}
    )


def _replace_service(before: LoadBalancer, service_id: str, change: dict[str, Any]) -> LoadBalancer:
    services = tuple(
        svc.model_copy(update=change) if svc.id == service_id else svc for svc in before.services
    )
    return before.model_copy(update={"services": services})


def _merged_healthcheck(current: Healthcheck | None, sent: Healthcheck) -> Healthcheck:
    base = current.model_dump() if current is not None else {}
    base.update({k: v for k, v in sent.model_dump().items() if v is not None})
    return Healthcheck.model_validate(base)


def service_updated(
    before: LoadBalancer, service_id: str, spec: LoadBalancerServiceSpec
) -> LoadBalancer:
    """After update-load-balancer-service with ``spec`` (its pool is never changed; a
    ``None`` description leaves the description as it is)."""
    current = before.service_by_id(service_id)
    change: dict[str, Any] = {
        "name": spec.name,
        "protocol": spec.protocol,
        "strategy": spec.strategy,
        "port": spec.port,
        "target_port": spec.target_port,
        "healthcheck": _merged_healthcheck(
            current.healthcheck if current else None, spec.healthcheck
        ),
    }
    if spec.description is not None:
        change["description"] = spec.description
    return _replace_service(before, service_id, change)


def service_field_reset(
    before: LoadBalancer, service_id: str, field: Literal["description"]
) -> LoadBalancer:
    """After reset-load-balancer-service-field."""
    return _replace_service(before, service_id, {field: None})


def service_deleted(before: LoadBalancer, service_id: str) -> LoadBalancer:
    """After delete-load-balancer-service."""
    kept = tuple(svc for svc in before.services if svc.id != service_id)
    return before.model_copy(update={"services": kept})


def has_service(lb: LoadBalancer, spec: LoadBalancerServiceSpec) -> bool:
    """Whether ``lb`` shows an NLB service as ``spec`` adds it (name, port, protocol, pool)."""
    found: LoadBalancerService | None = lb.service_named(spec.name)
    return (
        found is not None
        and found.port == spec.port
        and found.protocol == spec.protocol
        and (spec.instance_pool_id is None or found.instance_pool_id == spec.instance_pool_id)
    )
