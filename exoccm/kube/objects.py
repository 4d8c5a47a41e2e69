"""Small helpers over raw Kubernetes objects (plain dicts)."""

from __future__ import annotations

from typing import Any

# A Kubernetes object as the API sends it: decoded JSON, no model classes. The one alias for it.
Obj = dict[str, Any]


def meta(obj: Obj) -> dict[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def name_of(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def namespace_of(obj: Obj) -> str:
    return str(meta(obj).get("namespace") or "")


def key_of(obj: Obj) -> str:
    """client-go's MetaNamespaceKeyFunc: ``namespace/name``, or ``name`` when cluster-scoped."""
    namespace = namespace_of(obj)
    name = name_of(obj)
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str, str]:
    """``(namespace, name)``; namespace is empty for cluster-scoped keys."""
    namespace, _, name = key.rpartition("/")
    return namespace, name


def resource_version(obj: Obj) -> str:
    return str(meta(obj).get("resourceVersion", ""))


def uid_of(obj: Obj) -> str:
    return str(meta(obj).get("uid", ""))


def labels_of(obj: Obj) -> dict[str, str]:
    value = meta(obj).get("labels")
    return value if isinstance(value, dict) else {}


def annotations_of(obj: Obj) -> dict[str, str]:
    value = meta(obj).get("annotations")
    return value if isinstance(value, dict) else {}


def is_deleting(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))
