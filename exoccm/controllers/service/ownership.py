"""Whose is an NLB? Pure answers from its labels and the cluster's Services.

Every NLB exoccm creates carries labels naming the cluster and the Service (UID, namespace,
name). They decide what a Service may do with an NLB it names:

* **this Service's** NLB: exoccm manages it whole;
* an **unmanaged** NLB (no exoccm labels: made by hand, by Terraform, by the Go CCM): used as
  external (only this Service's own NLB services are touched), or adopted (labelled as this
  Service's) when the Service names it by ``id`` without ``external`` — as the Go CCM treats it;
* an **abandoned** one (this cluster's labels, but its Service no longer exists, e.g. after a
  backup restore gave the Services new UIDs): adopted the same way;
* **another Service's** (same cluster) or **another cluster's**: never written to.

Only one Service may hold an NLB: when several Services name the same NLB, the labels say who
holds it, and without labels the oldest claimant (creation time, then UID) may adopt it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from exoccm.controllers.service.annotations import PREFIX
from exoccm.controllers.service.desired import (
    LABEL_CLUSTER,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    LABEL_SERVICE_NAMESPACE,
    LABEL_SERVICE_UID,
    MANAGED_BY,
)
from exoccm.controllers.service.kubeside import wants_load_balancer
from exoccm.kube.objects import annotations_of, key_of, meta, uid_of


class Holder(Enum):
    THIS_SERVICE = "this Service"
    UNMANAGED = "nobody in Kubernetes"
    ABANDONED = "a Service that no longer exists"
    OTHER_SERVICE = "another Service of this cluster"
    OTHER_CLUSTER = "another cluster"


@dataclass(frozen=True)
class Ownership:
    holder: Holder
    labels: Mapping[str, str]

    @property
    def ours(self) -> bool:
        return self.holder is Holder.THIS_SERVICE

    @property
    def adoptable(self) -> bool:
        """Nobody else's: the Service may take it over (or share it, when external)."""
        return self.holder in (Holder.UNMANAGED, Holder.ABANDONED)

    def describe_owner(self) -> str:
        """Who holds the NLB, for a Warning Event."""
        labels = self.labels
        if self.holder is Holder.OTHER_SERVICE:
            namespace = labels.get(LABEL_SERVICE_NAMESPACE, "?")
            name = labels.get(LABEL_SERVICE_NAME, "?")
            return f"Service {namespace}/{name} (UID {labels.get(LABEL_SERVICE_UID, '?')})"
        if self.holder is Holder.OTHER_CLUSTER:
            cluster = labels.get(LABEL_CLUSTER)
            return f"cluster {cluster!r}" if cluster else "an exoccm without a cluster label"
        return str(self.holder.value)


def ownership_of(
    labels: Mapping[str, str], *, cluster_id: str, service_uid: str, directory: ServiceDirectory
) -> Ownership:
    """Classify an NLB by its labels, against the cluster's existing Services."""
    if labels.get(LABEL_MANAGED_BY) != MANAGED_BY:
        return Ownership(Holder.UNMANAGED, labels)
    if labels.get(LABEL_CLUSTER) != cluster_id:
        return Ownership(Holder.OTHER_CLUSTER, labels)
    uid = labels.get(LABEL_SERVICE_UID, "")
    if uid == service_uid:
        return Ownership(Holder.THIS_SERVICE, labels)
    if uid and directory.has_uid(uid):
        return Ownership(Holder.OTHER_SERVICE, labels)
    return Ownership(Holder.ABANDONED, labels)


def seniority(service: Mapping[str, Any]) -> tuple[str, str]:
    """Sort key of claimants: the oldest Service first, the UID breaking ties."""
    metadata = meta(dict(service))
    return (str(metadata.get("creationTimestamp") or "~"), uid_of(dict(service)))


def senior_claimant(claimants: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The Service that may adopt an NLB several Services name: the oldest."""
    return min(claimants, key=seniority, default=None)


def describe_service(service: Mapping[str, Any]) -> str:
    return f"Service {key_of(dict(service))}"


ID_ANNOTATION = PREFIX + "id"
EXTERNAL_ANNOTATION = PREFIX + "external"


def named_id(service: Mapping[str, Any]) -> str:
    """The NLB ID the Service's ``id`` annotation names, normalized ("" for none)."""
    return str(annotations_of(dict(service)).get(ID_ANNOTATION) or "").strip().lower()


def declares_external(service: Mapping[str, Any]) -> bool:
    return str(annotations_of(dict(service)).get(EXTERNAL_ANNOTATION) or "").lower() == "true"


class ServiceDirectory(Protocol):
    """The cluster's Services, as ownership decisions need them."""

    def naming(self, lb_id: str) -> list[Mapping[str, Any]]:
        """Load-balancer Services whose ``id`` annotation names ``lb_id``."""
        ...

    def has_uid(self, uid: str) -> bool: ...


class ListedServices:
    """A :class:`ServiceDirectory` over a list of Services (``exoccm plan``, tests)."""

    def __init__(self, services: Iterable[Mapping[str, Any]]):
        self._by_id: dict[str, list[Mapping[str, Any]]] = {}
        self._uids: set[str] = set()
        for service in services:
            self._uids.add(uid_of(dict(service)))
            lb_id = named_id(service)
            if lb_id and wants_load_balancer(service):
                self._by_id.setdefault(lb_id, []).append(service)

    def naming(self, lb_id: str) -> list[Mapping[str, Any]]:
        return list(self._by_id.get(lb_id, ()))

    def has_uid(self, uid: str) -> bool:
        return uid in self._uids


def claimants(
    directory: ServiceDirectory, lb_id: str, service: Mapping[str, Any]
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Other Services naming ``lb_id``: (those that would own it, those that share it)."""
    uid = uid_of(dict(service))
    others = [s for s in directory.naming(lb_id) if uid_of(dict(s)) != uid]
    return (
        [s for s in others if not declares_external(s)],
        [s for s in others if declares_external(s)],
    )
