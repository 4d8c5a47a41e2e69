"""The NLB a Service asks for: pure, from the Service, its parsed annotations and the target pool.

The health check is the API's own model (:class:`~exoccm.exoscale.models.Healthcheck`): built
here from the declarations that feed it, compared field by field with what the API holds
(:mod:`.diff`), and sent as it is (:mod:`.apply`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exoccm.controllers.service.annotations import LoadBalancerSettings
from exoccm.controllers.service.declarations import (
    ANNOTATIONS,
    DESCRIPTION,
    EXTERNAL,
    HEALTH_CHECK,
    HEALTHCHECK_MODE,
    NAME,
    SERVICE_DESCRIPTION,
    SERVICE_NAME,
    STRATEGY,
)
from exoccm.exoscale.models import Healthcheck

MAX_SERVICES_PER_NLB = 10

# Labels on every NLB exoccm creates: how it finds its NLBs again without the `id` annotation.
LABEL_MANAGED_BY = "managed-by"
LABEL_CLUSTER = "k8s-cluster"
LABEL_SERVICE_UID = "k8s-service-uid"
LABEL_SERVICE_NAMESPACE = "k8s-service-namespace"
LABEL_SERVICE_NAME = "k8s-service-name"
MANAGED_BY = "exoccm"
OWNERSHIP_LABEL_KEYS = (
    LABEL_MANAGED_BY,
    LABEL_CLUSTER,
    LABEL_SERVICE_UID,
    LABEL_SERVICE_NAMESPACE,
    LABEL_SERVICE_NAME,
)


@dataclass(frozen=True)
class DesiredService:
    """One NLB service, for one Service port (matched by port and protocol)."""

    name: str
    description: str
    protocol: str
    port: int
    target_port: int
    strategy: str
    healthcheck: Healthcheck
    instance_pool_id: str

    @property
    def key(self) -> tuple[int, str]:
        return (self.port, self.protocol)


@dataclass(frozen=True)
class DesiredLoadBalancer:
    zone: str
    name: str
    description: str
    external: bool
    services: tuple[DesiredService, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    def service_for(self, port: int, protocol: str) -> DesiredService | None:
        return next((s for s in self.services if s.key == (port, protocol)), None)


@dataclass(frozen=True)
class SpecProblem:
    """Something in the Service spec that an Exoscale NLB cannot serve."""

    message: str

    def __str__(self) -> str:
        return self.message


def ownership_labels(cluster_id: str, namespace: str, name: str, uid: str) -> dict[str, str]:
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_CLUSTER: cluster_id,
        LABEL_SERVICE_UID: uid,
        LABEL_SERVICE_NAMESPACE: namespace,
        LABEL_SERVICE_NAME: name,
    }


def default_load_balancer_name(uid: str) -> str:
    return f"k8s-{uid}"


def default_service_name(uid: str, port: int, protocol: str) -> str:
    return f"{uid}-{port}" + ("" if protocol == "tcp" else f"-{protocol}")


def spec_problems(service: Mapping[str, Any]) -> list[SpecProblem]:
    """Reasons the Service cannot get an NLB, independent of annotations and the cloud."""
    spec = service.get("spec") or {}
    ports = spec.get("ports") or []
    problems = []
    if spec.get("allocateLoadBalancerNodePorts") is False:
        problems.append(
            SpecProblem(
                "spec.allocateLoadBalancerNodePorts is false, but Exoscale NLBs forward to "
                "NodePorts: remove the field or set it to true"
            )
        )
    if not ports:
        problems.append(SpecProblem("the Service has no ports"))
    if len(ports) > MAX_SERVICES_PER_NLB:
        problems.append(
            SpecProblem(
                f"the Service has {len(ports)} ports, but an Exoscale NLB holds at most "
                f"{MAX_SERVICES_PER_NLB} services: split it into several Services"
            )
        )
    for port in ports:
        protocol = str(port.get("protocol") or "TCP")
        label = port.get("name") or port.get("port")
        if protocol not in ("TCP", "UDP"):
            problems.append(
                SpecProblem(f"port {label} uses {protocol}; Exoscale NLBs support only TCP and UDP")
            )
        elif not port.get("nodePort") and spec.get("allocateLoadBalancerNodePorts") is not False:
            problems.append(SpecProblem(f"port {label} has no nodePort allocated yet"))
    return problems


# What kube-proxy's health server answers on healthCheckNodePort: 200 on a Node with a ready
# endpoint of the Service, 503 elsewhere, on any path.
LOCAL_HEALTH_PATH = "/healthz"


def _healthcheck(
    spec: Mapping[str, Any], node_port: int, settings: LoadBalancerSettings
) -> Healthcheck:
    declared = Healthcheck.model_validate({a.feeds.field: settings[a] for a in HEALTH_CHECK})
    if declared.port is not None:
        return declared
    if spec.get("externalTrafficPolicy") == "Local" and spec.get("healthCheckNodePort"):
        local = declared.model_copy(update={"port": int(spec["healthCheckNodePort"])})
        if settings.is_given(HEALTHCHECK_MODE):
            return local
        # kube-proxy accepts TCP connections there on every Node: only HTTP tells the Nodes
        # with a local endpoint (200) from the others (503).
        return local.model_copy(update={"mode": "http", "uri": LOCAL_HEALTH_PATH})
    return declared.model_copy(update={"port": node_port})


def desired_load_balancer(
    service: Mapping[str, Any],
    settings: LoadBalancerSettings,
    *,
    zone: str,
    instance_pool_id: str,
    cluster_id: str,
) -> DesiredLoadBalancer:
    """The NLB for ``service``; call only when :func:`spec_problems` found nothing."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    uid = str(meta.get("uid", ""))
    ports = spec.get("ports") or []
    single = len(ports) == 1
    services = []
    for port in ports:
        protocol = str(port.get("protocol") or "TCP").lower()
        number = int(port["port"])
        node_port = int(port["nodePort"])
        name = (settings[SERVICE_NAME] if single else None) or default_service_name(
            uid, number, protocol
        )
        services.append(
            DesiredService(
                name=name,
                description=settings[SERVICE_DESCRIPTION] if single else "",
                protocol=protocol,
                port=number,
                target_port=node_port,
                strategy=settings[STRATEGY],
                healthcheck=_healthcheck(spec, node_port, settings),
                instance_pool_id=instance_pool_id,
            )
        )
    return DesiredLoadBalancer(
        zone=zone,
        name=settings[NAME] or default_load_balancer_name(uid),
        description=settings[DESCRIPTION],
        external=settings[EXTERNAL],
        services=tuple(services),
        labels={}
        if settings[EXTERNAL]
        else ownership_labels(
            cluster_id, str(meta.get("namespace", "")), str(meta.get("name", "")), uid
        ),
    )


def single_port_annotation_notes(
    service: Mapping[str, Any], settings: LoadBalancerSettings
) -> list[str]:
    """Annotations that the Go CCM (and exoccm) ignore with several ports: worth a warning."""
    ports = (service.get("spec") or {}).get("ports") or []
    if len(ports) <= 1:
        return []
    return [
        f"{annotation.key} is ignored because the Service has {len(ports)} ports; "
        "names and descriptions then follow the defaults"
        for annotation in ANNOTATIONS
        if annotation.single_port and settings.is_given(annotation)
    ]
