"""Transforms applied to every object before an informer caches it.

A transform takes a freshly decoded object (a dict the informer owns) and returns what to cache;
it may mutate its argument. Transforms must be idempotent and fast. Trimming at ingest is the main
memory lever: ``managedFields`` are about 40% of an object, and a Node's ``status.images`` often
more than half of what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exoccm.kube.objects import Obj

Transform = Callable[[Obj], Obj]

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
# What an informer needs to key, version and report an object; projections always keep it.
IDENTITY_FIELDS = ("name", "namespace", "uid", "resourceVersion", "generation")


def compose(*transforms: Transform) -> Transform:
    """Apply ``transforms`` left to right."""

    def composed(obj: Obj) -> Obj:
        for transform in transforms:
            obj = transform(obj)
        return obj

    composed.__name__ = "+".join(getattr(t, "__name__", "transform") for t in transforms)
    return composed


def identity(obj: Obj) -> Obj:
    """Cache objects as decoded."""
    return obj


def strip_managed_fields(obj: Obj) -> Obj:
    """Drop ``metadata.managedFields`` (server-side apply bookkeeping)."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return obj


def strip_last_applied(obj: Obj) -> Obj:
    """Drop the ``kubectl.kubernetes.io/last-applied-configuration`` annotation."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LAST_APPLIED_ANNOTATION, None)
    return obj


def strip_node_images(obj: Obj) -> Obj:
    """Drop a Node's ``status.images`` (the container images present on it)."""
    status = obj.get("status")
    if isinstance(status, dict):
        status.pop("images", None)
    return obj


def project(*paths: str) -> Transform:
    """Keep only the dotted ``paths`` (e.g. ``"spec.providerID"``) plus identity metadata.

    Lists are kept whole (``"status.addresses"``); a path that is absent is simply skipped.
    """
    tree: dict[str, Any] = {}
    for path in (*(f"metadata.{field}" for field in IDENTITY_FIELDS), *paths):
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if child is None:  # a shorter path already keeps this whole subtree
                break
            node = child
        else:
            node[parts[-1]] = None  # None: keep the whole value

    def projection(obj: Obj) -> Obj:
        return _pick(obj, tree)

    projection.__name__ = f"project({', '.join(paths)})"
    return projection


def _pick(value: Obj, tree: dict[str, Any]) -> Obj:
    picked: Obj = {}
    for key, subtree in tree.items():
        if key not in value:
            continue
        inner = value[key]
        if subtree is None or not isinstance(inner, dict):
            picked[key] = inner
        else:
            picked[key] = _pick(inner, subtree)
    return picked


#: Strip server-side apply bookkeeping and kubectl's copy of the last applied manifest.
DEFAULT_TRANSFORM: Transform = compose(strip_managed_fields, strip_last_applied)
#: The default plus a Node's image list.
NODE_TRANSFORM: Transform = compose(DEFAULT_TRANSFORM, strip_node_images)
