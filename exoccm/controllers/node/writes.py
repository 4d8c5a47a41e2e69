"""Writes to Nodes: resourceVersion-guarded patches retried on conflict, and guarded deletion.

A patch is built from the Node as last seen and carries its resourceVersion, so it cannot
overwrite a concurrent change (taints are a list: a merge patch replaces it whole). On a 409 the
Node is read again and the patch rebuilt, a few times, as client-go's ``RetryOnConflict`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog

from exoccm.engine.controller import RetryAfterError
from exoccm.kube.client import KubeClient
from exoccm.kube.errors import KubeConflictError
from exoccm.kube.objects import Obj, name_of, resource_version, uid_of
from exoccm.kube.resources import NODES

log = structlog.get_logger(__name__)

PatchBuilder = Callable[[Obj], Obj | None]

CONFLICT_ATTEMPTS = 5


async def patch_node(
    kube: KubeClient, node: Obj, build: PatchBuilder, *, subresource: str | None = None
) -> Obj:
    """Apply ``build(node)`` (None: nothing to change) guarded by the Node's resourceVersion.

    Returns the Node as the apiserver answered (or ``node`` when nothing changed). Raises
    :class:`RetryAfterError` after repeated conflicts and ``KubeNotFoundError`` if the Node is gone.
    """
    name = name_of(node)
    current = node
    for _ in range(CONFLICT_ATTEMPTS):
        patch = build(current)
        if patch is None:
            return current
        metadata = {**(patch.get("metadata") or {}), "resourceVersion": resource_version(current)}
        try:
            return await kube.patch(
                NODES.path(name=name, subresource=subresource), {**patch, "metadata": metadata}
            )
        except KubeConflictError:
            log.debug("Node patch conflicted", node=name, subresource=subresource)
            current = await kube.get(NODES.path(name=name))
    raise RetryAfterError(
        1.0, f"Node {name} changed under every one of {CONFLICT_ATTEMPTS} patch attempts"
    )


def status_patch(addresses: list[dict[str, str]]) -> Obj:
    # A JSON merge patch replaces the list whole, which is what we want: we own the addresses.
    return {"status": {"addresses": addresses}}


async def delete_node(kube: KubeClient, node: Mapping[str, Any]) -> None:
    """Delete the Node, but only the very object we judged (a re-registered one has a new UID)."""
    obj = dict(node)
    await kube.delete(
        NODES.path(name=name_of(obj)),
        body={
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": uid_of(obj)},
        },
    )
