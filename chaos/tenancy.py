"""Judging the hostile tenant's attacks: nothing handed away, nothing written on its behalf.

Two kinds of checks, both computed from the cluster and the simulator, not from exoccm's code:

* **The state** (:func:`judge_state`, re-evaluated while the campaign settles): the other
  cluster's NLB is exactly as it was made; each victim keeps its NLB, its labels and its IP;
  no live attacker (nor a pair's refused half) has an ingress IP or the cleanup finalizer, each
  still names what it named and got a Warning naming the owner; each hand-made NLB is held by
  the pair's current holder, at its original IP.
* **The history** (:func:`judge_writes`, once at the end): from the simulator's request log, no
  write (a POST, PUT or DELETE under ``/load-balancer/<id>``) ever reached the other cluster's
  NLB, a victim's NLB once it was frozen, or a hand-made NLB between its adoption and the
  handover: nothing else could have made such a write but an attacker's Service.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from chaos.checks import FINALIZER, UID_LABEL
from chaos.hostile import ID, HostileTenant, Pair
from exoccm.kube.objects import Obj
from exoccm.testing.services import NLB_WRITE_OPERATIONS

Key = tuple[str, str]
Refusals = Mapping[str, list[str]]  # Service UID -> messages of its SyncLoadBalancerFailed Events


def refusal_messages(events: list[Obj]) -> dict[str, list[str]]:
    """The service controller's ``SyncLoadBalancerFailed`` messages, by the Service's UID."""
    messages: dict[str, list[str]] = {}
    for event in events:
        if event.get("reason") != "SyncLoadBalancerFailed":
            continue
        if (event.get("source") or {}).get("component") != "service-controller":
            continue
        uid = (event.get("involvedObject") or {}).get("uid", "")
        messages.setdefault(uid, []).append(str(event.get("message", "")))
    return messages


def _refused(refusals: Refusals, uid: str, *names: str) -> bool:
    return any(all(n in m for n in names) for m in refusals.get(uid, []))


def _ingress(service: Obj) -> list[str]:
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [str(i.get("ip")) for i in ingress]


def _find(nlbs_by_zone: Mapping[str, list[Obj]], lb_id: str) -> Obj | None:
    return next((n for listed in nlbs_by_zone.values() for n in listed if n["id"] == lb_id), None)


def _nlb_services(nlb: Obj) -> list[tuple[Any, ...]]:
    return sorted(
        (s.get("name"), s.get("port"), s.get("target-port")) for s in nlb.get("services") or []
    )


def judge_state(
    tenant: HostileTenant,
    services: Mapping[Key, Obj],
    nlbs_by_zone: Mapping[str, list[Obj]],
    refusals: Refusals,
) -> list[str]:
    failures: list[str] = []
    failures += _judge_foreign(tenant, nlbs_by_zone)
    for victim in tenant.victims:
        label = f"victim {victim.key[0]}/{victim.key[1]}"
        nlb = _find(nlbs_by_zone, victim.nlb_id)
        if nlb is None:
            failures.append(f"{label}: its NLB {victim.nlb_id} is gone")
            continue
        if (nlb.get("labels") or {}) != victim.labels:
            failures.append(f"{label}: NLB labels {nlb.get('labels')}, were {victim.labels}")
        service = services.get(victim.key)
        if service is not None and _ingress(service) != [victim.ip]:
            failures.append(f"{label}: ingress {_ingress(service)}, was {victim.ip}")
    for attacker in tenant.attackers:
        service = services.get(attacker.key)
        if attacker.key in tenant.deleted:
            continue
        if service is None and (not attacker.uid or attacker.key in tenant.maybe_deleted):
            continue  # its create or delete answer was lost: it never was, or is no more
        label = f"attacker {attacker.key[0]}/{attacker.key[1]} ({attacker.kind})"
        uid = service["metadata"]["uid"] if service else attacker.uid
        failures += _judge_refused(label, service, uid, refusals, attacker.target, attacker.owner)
    for pair in tenant.pairs:
        failures += _judge_pair(pair, services, nlbs_by_zone, refusals)
    return failures


def _judge_foreign(tenant: HostileTenant, nlbs_by_zone: Mapping[str, list[Obj]]) -> list[str]:
    made = tenant.foreign
    nlb = _find(nlbs_by_zone, made["id"])
    if nlb is None:
        return [f"the other cluster's NLB {made['id']} is gone"]
    failures = []
    if nlb.get("labels") != made.get("labels"):
        failures.append(
            f"the other cluster's NLB: labels {nlb.get('labels')}, were {made['labels']}"
        )
    if _nlb_services(nlb) != _nlb_services(made):
        failures.append(
            f"the other cluster's NLB: services {_nlb_services(nlb)}, were {_nlb_services(made)}"
        )
    return failures


def _judge_refused(
    label: str,
    service: Obj | None,
    uid: str,
    refusals: Refusals,
    target: str,
    owner: str,
) -> list[str]:
    if service is None:
        return [f"{label} is gone, though nobody deleted it"]
    failures = []
    if _ingress(service):
        failures.append(f"{label} has ingress {_ingress(service)}")
    if FINALIZER in (service["metadata"].get("finalizers") or []):
        failures.append(f"{label} has exoccm's cleanup finalizer")
    named = (service["metadata"].get("annotations") or {}).get(ID)
    if named != target:
        failures.append(f"{label}: its id annotation became {named!r}, it named {target}")
    if not _refused(refusals, uid, target, owner):
        failures.append(f"{label}: no Warning naming {owner} and NLB {target}")
    return failures


def _judge_pair(
    pair: Pair,
    services: Mapping[Key, Obj],
    nlbs_by_zone: Mapping[str, list[Obj]],
    refusals: Refusals,
) -> list[str]:
    lb_id = pair.nlb["id"]
    label = f"hand-made NLB {lb_id} ({pair.namespace})"
    nlb = _find(nlbs_by_zone, lb_id)
    if nlb is None:
        return [f"{label} is gone"]
    holder = services.get(pair.holder) if pair.holder else None
    if holder is None:
        return [f"{label}: its holder {pair.holder} does not exist"]
    failures = []
    labels = nlb.get("labels") or {}
    if labels.get(UID_LABEL) != holder["metadata"]["uid"]:
        failures.append(
            f"{label} is labelled for {labels.get(UID_LABEL)}, not its holder {pair.holder}"
        )
    if _ingress(holder) != [pair.nlb["ip"]]:
        failures.append(
            f"{label}: its holder shows {_ingress(holder)}, the NLB's IP is {pair.nlb['ip']}"
        )
    if pair.waiting is not None and pair.first is not None:
        waiting = services.get(pair.waiting)
        uid = waiting["metadata"]["uid"] if waiting else ""
        owner = f"Service {pair.first[0]}/{pair.first[1]}"
        failures += _judge_refused(
            f"{pair.waiting[0]}/{pair.waiting[1]} (second claimant)",
            waiting,
            uid,
            refusals,
            lb_id,
            owner,
        )
    return failures


def _writes_to(requests: list[Obj], lb_id: str, start: int, end: int | None = None) -> Counter[str]:
    marker = f"/load-balancer/{lb_id}"
    return Counter(
        str(r.get("operation_id"))
        for r in requests[start:end]
        if r.get("operation_id") in NLB_WRITE_OPERATIONS and marker in str(r.get("path", ""))
    )


def judge_writes(tenant: HostileTenant, requests: list[Obj]) -> list[str]:
    """Writes that only an attacker's Service could have caused."""
    failures = []
    foreign = _writes_to(requests, tenant.foreign["id"], tenant.foreign_since)
    if foreign:
        failures.append(
            f"writes to the other cluster's NLB {tenant.foreign['id']}: {dict(foreign)}"
        )
    for victim in tenant.victims:
        writes = _writes_to(requests, victim.nlb_id, victim.since)
        if writes:
            failures.append(
                f"writes to victim {victim.key[0]}/{victim.key[1]}'s NLB {victim.nlb_id} after it "
                f"was frozen: {dict(writes)}"
            )
    for pair in tenant.pairs:
        if pair.converged_at is None:
            continue
        writes = _writes_to(requests, pair.nlb["id"], pair.converged_at, pair.handover_at)
        if writes:
            failures.append(
                f"writes to hand-made NLB {pair.nlb['id']} while its first claimant held it: "
                f"{dict(writes)}"
            )
    return failures


def figures(tenant: HostileTenant, refusals: Refusals) -> dict[str, Any]:
    """What the hostile tenant did and how much of it was refused with a Warning."""
    launched: Counter[str] = Counter(a.kind for a in tenant.attackers)
    refused: Counter[str] = Counter(
        a.kind for a in tenant.attackers if _refused(refusals, a.uid, a.target, a.owner)
    )
    return {
        "attackers_by_kind": dict(sorted(launched.items())),
        "refused_with_warning_by_kind": dict(sorted(refused.items())),
        "attackers_deleted": sum(1 for a in tenant.attackers if a.key in tenant.deleted),
        "victims": [f"{v.key[0]}/{v.key[1]}" for v in tenant.victims],
        "pairs": len(tenant.pairs),
        "pairs_adopted": sum(1 for p in tenant.pairs if p.converged_at is not None),
        "handovers": sum(1 for p in tenant.pairs if p.handover_at is not None),
        "actions": dict(sorted(tenant.counts.items())),
    }
