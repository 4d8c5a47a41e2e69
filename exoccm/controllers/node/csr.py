"""Approval of kubelet serving certificates (opt-in: ``EXOSCALE_SKS_AGENT_RUNNERS=node-csr-validation``).

Each undecided CSR of signer ``kubernetes.io/kubelet-serving`` is checked against
:mod:`.csr_rules` and the instance of its Node, found by the Node's providerID or else by
instance name in the zone listings. A match is approved through the ``approval`` subresource;
anything else stays pending with a logged explanation; exoccm never denies. Requests that can
never match are not retried; those whose instance is missing or whose addresses do not match yet
(a listing, or the kubelet's ``--node-ip`` annotation, may catch up) are retried with backoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from exoccm.controllers.node.csr_rules import (
    ServingRequest,
    approved_condition,
    instance_problems,
    is_decided,
    is_kubelet_serving,
    review_request,
)
from exoccm.controllers.node.metadata import instance_id_from_provider_id
from exoccm.controllers.node.resolve import InstanceLocator, Located, Miss
from exoccm.controllers.node.state import is_uuid, provider_id_of
from exoccm.engine.controller import DONE, Result, RetryAfterError
from exoccm.engine.informer import Informer
from exoccm.engine.ratelimit import RateLimitProfile
from exoccm.engine.transform import IDENTITY_FIELDS
from exoccm.exoscale.errors import RateLimitedError
from exoccm.kube.client import KubeClient
from exoccm.kube.errors import KubeConflictError, KubeNotFoundError
from exoccm.kube.objects import Obj
from exoccm.kube.resources import CSRS

log = structlog.get_logger(__name__)

_SPEC_FIELDS = ("request", "signerName", "username", "groups", "usages")
CONFLICT_ATTEMPTS = 5
#: A CSR waiting for its instance: 5 s, 10 s, ... up to 5 min between looks.
CSR_PROFILE = RateLimitProfile(base_delay=5.0, max_delay=300.0, qps=None)


def project_csr(obj: Obj) -> Obj:
    """The CSR informer's transform: what approval reads, and nothing else."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    conditions = (obj.get("status") or {}).get("conditions") or []
    return {
        "kind": "CertificateSigningRequest",
        "apiVersion": CSRS.api_version,
        "metadata": {k: meta[k] for k in IDENTITY_FIELDS if k in meta},
        "spec": {k: spec[k] for k in _SPEC_FIELDS if k in spec},
        "status": {
            "conditions": [{"type": c.get("type"), "status": c.get("status")} for c in conditions]
        },
    }


class CsrApprover:
    """Reconciles one CSR key; wiring lives in :mod:`.runner`."""

    def __init__(
        self,
        *,
        kube: KubeClient,
        csrs: Informer,
        nodes: Informer,
        locator: InstanceLocator,
    ):
        self.kube = kube
        self.csrs = csrs
        self.nodes = nodes
        self.locator = locator

    async def reconcile(self, key: str) -> Result:
        csr = self.csrs.get(key)
        if csr is None or is_decided(csr) or not is_kubelet_serving(csr):
            return DONE
        request, problems = review_request(csr)
        if request is None:
            self._pending(key, problems, retry=False)
            return DONE  # a CSR's spec is immutable: it can never become acceptable
        node = self.nodes.get(request.node_name)
        try:
            found = await self._instance_of(request, node)
        except RateLimitedError as exc:
            raise RetryAfterError(exc.retry_after or 5.0, str(exc)) from exc
        if isinstance(found, str):
            self._pending(key, [found], retry=True)
            return Result(requeue=True)
        problems = instance_problems(request, found.instance, node)
        if problems:
            self._pending(key, problems, retry=True)
            return Result(requeue=True)
        if await self._approve(key):
            log.info(
                "Approved CSR",
                csr=key,
                node=request.node_name,
                instance=found.instance.id,
                zone=found.zone,
            )
        return DONE

    def _pending(self, key: str, problems: list[str], *, retry: bool) -> None:
        log.info(
            "Left CSR pending",
            csr=key,
            reasons=problems,
            retried=retry,
            note="exoccm never denies; approve or deny it by hand if it is legitimate",
        )

    async def _instance_of(
        self, request: ServingRequest, node: Mapping[str, Any] | None
    ) -> Located | str:
        """The instance of the requesting Node, or why it cannot be determined."""
        instance_id = (
            instance_id_from_provider_id(provider_id_of(node)) if node is not None else None
        )
        if instance_id is not None and is_uuid(instance_id):
            zones, _ = self.locator.zones_for(node)
            found: list[Located] | Miss = await self.locator.search(
                lambda index: [index.by_id[instance_id]] if instance_id in index.by_id else [],
                zones,
            )
            what = f"instance {instance_id} (Node {request.node_name}'s providerID)"
        else:
            found = await self.locator.instances_named(request.node_name, node)
            what = f"an instance named {request.node_name!r}"
        if isinstance(found, Miss):
            return f"found no {what} in zone(s) {', '.join(found.zones)}"
        if len(found) > 1:
            ids = ", ".join(located.instance.id for located in found)
            return f"several instances match {what} ({ids}); cannot tell which one asks"
        return found[0]

    async def _approve(self, name: str) -> bool:
        """Add the Approved condition; False if someone decided in the meantime."""
        path = CSRS.path(name=name)
        for _ in range(CONFLICT_ATTEMPTS):
            try:
                current = await self.kube.get(path)
            except KubeNotFoundError:
                return False
            if is_decided(current):
                return False
            status = current.setdefault("status", {})
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            status["conditions"] = [*(status.get("conditions") or []), approved_condition(now)]
            try:
                await self.kube.replace(CSRS.path(name=name, subresource="approval"), current)
            except KubeConflictError:
                continue
            except KubeNotFoundError:
                return False
            return True
        raise RetryAfterError(1.0, f"CSR {name} changed under every approval attempt")
