"""The Kubernetes permissions exoccm needs: what ``exoccm doctor`` checks.

Each controller declares its own in :mod:`exoccm.controllers.registry`; the process adds reading
the ``kube-system`` namespace (its UID is the default cluster id) and, with leader election, its
Lease. The chart's ClusterRole and Role are tested against :func:`required`.
"""

from __future__ import annotations

from collections.abc import Iterable

from exoccm.controllers.registry import permissions_of
from exoccm.kube.permissions import Permission, permissions
from exoccm.kube.resources import LEASES, NAMESPACES

__all__ = ["PROCESS", "Permission", "lease_permissions", "ordered", "required"]

#: Whatever controllers run.
PROCESS = permissions("get", NAMESPACES, name="kube-system")
# Listed per object, in this verb order: kubectl's and the chart's order.
_VERB_ORDER = ("get", "list", "watch", "create", "update", "patch", "delete", "approve")


def lease_permissions(namespace: str, name: str) -> tuple[Permission, ...]:
    # create cannot be limited to a name: the object does not exist yet.
    return (
        *permissions("create", LEASES, namespace=namespace),
        *permissions("get update", LEASES, namespace=namespace, name=name),
    )


def required(controllers: Iterable[str], lease: tuple[str, str] | None) -> list[Permission]:
    """Every permission the enabled controllers (and leader election on ``lease``) need."""
    needed = [*PROCESS, *permissions_of(controllers)]
    if lease is not None:
        needed += lease_permissions(*lease)
    return ordered(needed)


def ordered(found: Iterable[Permission]) -> list[Permission]:
    """``found`` without repeats, grouped by object (in order of first appearance), each
    object's verbs in the usual order (get, list, watch, create, update, patch, delete)."""
    unique = list(dict.fromkeys(found))
    objects: dict[tuple[str, ...], int] = {}
    for p in unique:
        objects.setdefault(_object_of(p), len(objects))

    def order(p: Permission) -> tuple[int, int]:
        rank = _VERB_ORDER.index(p.verb) if p.verb in _VERB_ORDER else len(_VERB_ORDER)
        return objects[_object_of(p)], rank

    return sorted(unique, key=order)


def _object_of(p: Permission) -> tuple[str, ...]:
    return (p.group, p.resource, p.subresource, p.namespace, p.name)
