"""The Kubernetes side of a Service's load balancer: finalizer, status, written-back annotations.

Finalizer and status go through the ``status`` subresource, as the upstream service controller
does; finalizer changes carry the cached resourceVersion so a concurrent edit makes the patch fail
(409) instead of silently dropping someone else's finalizer. Each write is skipped when the cached
object already shows the wanted value, so a converged Service costs no Kubernetes write either.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from exoccm.controllers.service import records
from exoccm.kube.client import KubeClient
from exoccm.kube.objects import Obj, annotations_of, meta, name_of, namespace_of
from exoccm.kube.resources import SERVICES

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


def has_finalizer(service: Mapping[str, Any]) -> bool:
    return FINALIZER in (meta(dict(service)).get("finalizers") or [])


def wants_load_balancer(service: Mapping[str, Any]) -> bool:
    """``type: LoadBalancer`` without a ``loadBalancerClass``, not being deleted."""
    spec = service.get("spec") or {}
    return (
        spec.get("type") == "LoadBalancer"
        and not spec.get("loadBalancerClass")
        and not meta(dict(service)).get("deletionTimestamp")
    )


def ingress_for(ip: str | None) -> list[dict[str, str]]:
    return [{"ip": ip, "ipMode": "VIP"}] if ip else []


async def _patch_finalizers(kube: KubeClient, service: Obj, finalizers: list[str]) -> Obj:
    metadata = meta(service)
    return await kube.patch(
        SERVICES.path(namespace_of(service), name_of(service), "status"),
        {
            "metadata": {
                "finalizers": finalizers,
                "resourceVersion": metadata.get("resourceVersion"),
            }
        },
    )


async def add_finalizer(kube: KubeClient, service: Obj) -> Obj | None:
    if has_finalizer(service):
        return None
    current = list(meta(service).get("finalizers") or [])
    return await _patch_finalizers(kube, service, [*current, FINALIZER])


async def remove_finalizer(kube: KubeClient, service: Obj) -> Obj | None:
    if not has_finalizer(service):
        return None
    current = [f for f in meta(service).get("finalizers") or [] if f != FINALIZER]
    return await _patch_finalizers(kube, service, current)


async def set_ingress(kube: KubeClient, service: Obj, ip: str | None) -> Obj | None:
    """Patch ``status.loadBalancer.ingress`` only when it differs."""
    wanted = ingress_for(ip)
    current = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if current == wanted:
        return None
    return await kube.patch(
        SERVICES.path(namespace_of(service), name_of(service), "status"),
        {"status": {"loadBalancer": {"ingress": wanted or None}}},
    )


async def write_annotations(
    kube: KubeClient, service: Obj, values: Mapping[str, str]
) -> Obj | None:
    """Merge ``values`` into the Service's annotations, skipping those already set."""
    current = annotations_of(service)
    changes = {k: v for k, v in values.items() if current.get(k) != v}
    if not changes:
        return None
    return await kube.patch(
        SERVICES.path(namespace_of(service), name_of(service)),
        {"metadata": {"annotations": changes}},
    )


async def write_record(kube: KubeClient, service: Obj, record: records.Record) -> Obj:
    """Replace the Service's record of the NLB services it created (a status condition, merged
    by type so other controllers' conditions stay)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return await kube.patch(
        SERVICES.path(namespace_of(service), name_of(service), "status"),
        {"status": {"conditions": [records.condition_for(record, now)]}},
        patch_type="strategic",
    )
