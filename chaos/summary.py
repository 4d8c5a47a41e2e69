"""The JSON summary of a campaign: what happened, what the checks found, and the verdict.

The request log and the replicas' logs are read once, here. Problems are everything that fails
the run: end-state mismatches, the ingress watch's findings, writes only an attacker could have
caused, writes after convergence, untyped exceptions in reconcile errors, bad replica exits.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos import tenancy
from chaos.cluster import Replicas
from chaos.faults import FaultPhases, fired
from chaos.ground import Ground
from exoccm.testing.services import NLB_WRITE_OPERATIONS

if TYPE_CHECKING:
    from chaos.campaign import CampaignConfig

# Exception types that must never reach a reconcile's error log: they would mean exoccm let a
# malformed answer or its own bug escape its typed errors.
LEAKS = (
    "KeyError",
    "TypeError",
    "ValidationError",
    "AttributeError",
    "AssertionError",
    "IndexError",
)


@dataclass(frozen=True)
class Parts:
    """What a campaign ran with."""

    config: CampaignConfig
    workdir: Path
    ground: Ground
    phases: FaultPhases
    replicas: Replicas


def writes(requests: list[dict[str, Any]]) -> int:
    return sum(1 for r in requests if r.get("operation_id") in NLB_WRITE_OPERATIONS)


def summarize(parts: Parts, settle: dict[str, Any], disruptions: dict[str, Any]) -> dict[str, Any]:
    ground, replicas = parts.ground, parts.replicas
    workload, hostile, watch = ground.workload, ground.hostile, ground.watch
    requests = ground.sim.requests()
    (parts.workdir / "requests.json").write_text(json.dumps(requests))  # for forensics
    by_kind, by_name = fired(requests)
    operations = Counter(r.get("operation_id") or "unknown" for r in requests)
    logs = log_findings(replicas)
    checks_json = settle["checks"]
    attacker_writes = tenancy.judge_writes(hostile, requests)
    problems = list(checks_json["failures"]) + watch.failures() + attacker_writes
    if settle["writes_in_quiet_window"]:
        problems.append(f"{settle['writes_in_quiet_window']} cloud writes after convergence")
    if logs["leaked_exceptions"]:
        problems.append(f"exceptions leaked into reconcile errors: {logs['leaked_exceptions']}")
    exits = replicas.exit_counts()
    if exits.get("crash") or exits.get("sigterm-bad-exit") or exits.get("slow-shutdown"):
        problems.append(f"replica exits that should not happen: {exits}")
    if settle["replicas_running_at_end"] != len(replicas.members):
        problems.append("a replica was not running at the end")
    config = parts.config
    return {
        "campaign": {
            "seed": config.seed,
            "duration_s": config.duration,
            "services_target": config.services,
            "namespaces": list(workload.namespaces),
            "hostile_namespaces": list(hostile.namespaces),
            "zones": dict(ground.cloud.pools),
            "workdir": str(parts.workdir),
        },
        "workload": {
            "actions": dict(sorted(workload.counts.items())),
            "services_created": len(workload.created),
            "services_deleted": len(workload.deleted),
            "zone_moves_asked": sum(workload.moves_asked.values()),
            "type_switches_asked": sum(workload.switches_asked.values()),
            "victims_frozen": len(workload.frozen),
            "kube_request_errors": dict(workload.kube_errors),
        },
        "hostile": {
            **tenancy.figures(hostile, ground.refusals_or_empty()),
            "attacker_writes": attacker_writes,
        },
        "ingress_watch": watch.as_json(),
        "faults": {
            "phases": parts.phases.phases,
            "rules_injected": dict(sorted(parts.phases.rules.items())),
            "fired_by_kind": dict(sorted(by_kind.items())),
            "fired_by_name": dict(sorted(by_name.items())),
            "fired_total": sum(by_kind.values()),
        },
        "disruptions": {
            **disruptions,
            "replica_restarts": replicas.restarts,
            "replica_exits": exits,
        },
        "leadership": {
            "handovers": sum(replicas.handovers.values()),
            "handovers_by_cause": dict(replicas.handovers),
            "leaders_seen": len(replicas.leaders_seen),
            "dual_leader_observations": replicas.dual_leader_observations,
        },
        "api": {
            "requests": len(requests),
            "writes": writes(requests),
            "by_operation": dict(operations.most_common()),
            "by_status": dict(Counter(str(r["status"]) for r in requests).most_common()),
        },
        "exoccm_logs": logs,
        "settle": {k: v for k, v in settle.items() if k != "checks"},
        "checks": checks_json,
        "problems": problems,
        "outcome": "pass" if not problems else "fail",
    }


def log_findings(replicas: Replicas) -> dict[str, Any]:
    levels: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    leaked: Counter[str] = Counter()
    non_json_lines = 0
    for replica in replicas.members:
        for path in replica.logs:
            for raw in path.read_bytes().splitlines():
                try:
                    line = json.loads(raw)
                except ValueError:
                    non_json_lines += 1
                    continue
                if not isinstance(line, dict):
                    continue
                levels[str(line.get("level"))] += 1
                if line.get("msg") == "Reconcile failed; will retry with backoff":
                    kind = str(line.get("error", "")).split(":", 1)[0]
                    failures[kind] += 1
                    if kind in LEAKS:
                        leaked[kind] += 1
    return {
        "lines_by_level": dict(levels),
        "non_json_lines": non_json_lines,
        "reconcile_failures_by_error": dict(failures.most_common()),
        "leaked_exceptions": dict(leaked),
    }
