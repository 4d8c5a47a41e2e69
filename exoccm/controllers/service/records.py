"""The Service's record of the NLB services it created on external NLBs.

On an NLB that is not the Service's own (external, shared with other Services or with hand-made
NLB services), exoccm touches only the NLB services the Service created. A default name carries
the Service UID (``<uid>-80``) and proves it; a name from the ``service-name`` annotation proves
nothing, since any tenant can write any annotation. Such names are recorded in a condition of the
Service's *status*, which tenants cannot write (the status subresource is the controller's), and
the record is written *before* the NLB service is created, so a crash in between cannot leave an
NLB service nobody may touch.

Services served by an external NLB before exoccm kept records have none at all: their first sync
records the NLB services they are served by (see :func:`legacy_claims`), once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import orjson

from exoccm.controllers.service.diff import Claim
from exoccm.exoscale.models import LoadBalancer

CONDITION_TYPE = "exoccm/CreatedNLBServices"
_MESSAGE_PREFIX = "NLB services exoccm created for this Service on external NLBs: "

Record = dict[str, frozenset[Claim]]  # NLB ID -> claims


def _condition(service: Mapping[str, Any]) -> Mapping[str, Any] | None:
    conditions = (service.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == CONDITION_TYPE), None)


def has_record(service: Mapping[str, Any]) -> bool:
    return _condition(service) is not None


def record_of(service: Mapping[str, Any]) -> Record:
    """The recorded claims by NLB ID; an unreadable record counts as empty."""
    condition = _condition(service)
    if condition is None:
        return {}
    message = str(condition.get("message") or "")
    try:
        data = orjson.loads(message.removeprefix(_MESSAGE_PREFIX))
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    record: Record = {}
    for lb_id, entries in data.items():
        if not isinstance(entries, list):
            continue
        record[str(lb_id)] = frozenset(
            (str(e[0]), int(e[1]), str(e[2]))
            for e in entries
            if isinstance(e, list) and len(e) == 3 and isinstance(e[1], int)
        )
    return record


def claims_on(service: Mapping[str, Any], lb_id: str) -> frozenset[Claim]:
    return record_of(service).get(lb_id, frozenset())


def legacy_claims(
    service: Mapping[str, Any], lb: LoadBalancer, wanted: Iterable[Claim]
) -> frozenset[Claim]:
    """For a Service without any record that the NLB already serves (its status shows the NLB's
    IP, which only exoccm writes): the NLB services it wants that exist, as it made them."""
    if has_record(service) or lb.ip is None:
        return frozenset()
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if lb.ip not in {entry.get("ip") for entry in ingress}:
        return frozenset()
    existing = {(s.name, s.port, s.protocol) for s in lb.services}
    return frozenset(claim for claim in wanted if claim in existing)


def condition_for(record: Mapping[str, Collection[Claim]], now: str) -> dict[str, Any]:
    """The status condition holding ``record`` (a strategic-merge-patch entry, keyed by type)."""
    data = {lb_id: sorted([list(c) for c in claims]) for lb_id, claims in sorted(record.items())}
    return {
        "type": CONDITION_TYPE,
        "status": "True",
        "reason": "Recorded",
        "message": _MESSAGE_PREFIX + orjson.dumps(data).decode(),
        "lastTransitionTime": now,
    }
