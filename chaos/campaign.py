"""The fault campaign: ``python -m chaos.campaign [--duration S] [--seed N] [--services N]``.

One etcd + kube-apiserver, one Exoscale simulator (operation latency 0.2 s) with an Instance
Pool of three instances and their Nodes, two exoccm replicas sharing a Lease. For ``--duration``
seconds a seeded schedule creates, updates and deletes LoadBalancer Services, injects Exoscale
faults in phases, SIGKILLs the leader, hands leadership over with SIGTERM and restarts the
apiserver; exited replicas are replaced, as a Deployment would. Then the settle phase clears the
faults and waits (bounded) until the simulator's NLBs are exactly what the Services ask for.
Progress goes to stdout line by line; the summary is printed as JSON and written to ``--output``.
The exit code is 0 when every end-state check passed.
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from chaos import checks
from chaos.cluster import Replica, Replicas
from chaos.faults import FaultPhases, fired
from chaos.workload import Workload
from exoccm.kube.resources import NAMESPACES
from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.scenario import register_nodes, seed_cloud
from exoccm.testing.services import NLB_WRITE_OPERATIONS
from exoccm.testing.simprocess import SimProcess

ZONE = "de-muc-1"
CLUSTER_ID = "chaos"
LEASE_NAMESPACE = "chaos-system"
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


def exoccm_env(sim: SimProcess) -> dict[str, str]:
    return {
        **sim.env(ZONE),
        "EXOCCM_CLUSTER_ID": CLUSTER_ID,
        "EXOCCM_LEADER_ELECTION_NAMESPACE": LEASE_NAMESPACE,
        "EXOCCM_LEADER_ELECTION_NAME": "exoccm-chaos",
        "EXOCCM_LEASE_DURATION": "4s",
        "EXOCCM_RENEW_DEADLINE": "3s",
        "EXOCCM_RETRY_PERIOD": "0.5s",
        "EXOCCM_DRIFT_PERIOD": "5s",
        "EXOCCM_OPERATION_TIMEOUT": "20s",
        "EXOCCM_API_TIMEOUT": "5s",
        "EXOCCM_API_RATE_LIMIT": "50",
        "EXOCCM_API_BURST": "50",
        "EXOCCM_LOG_LEVEL": "info",
    }


@dataclass
class CampaignConfig:
    duration: float = 300.0
    seed: int = 1
    services: int = 15
    namespaces: int = 3
    settle_timeout: float = 360.0
    quiet_window: float = 15.0
    workdir: Path | None = None
    keep: bool = False
    kill_period: float = 40.0
    term_period: float = 45.0
    apiserver_period: float = 75.0
    fault_phase: tuple[float, float] = (12.0, 25.0)
    churn_interval: tuple[float, float] = (0.7, 2.5)


def disruption_schedule(config: CampaignConfig, rng: random.Random) -> list[tuple[float, str]]:
    """(seconds into the run, what) for SIGKILLs, SIGTERMs and apiserver restarts."""
    events = []
    for kind, period, first in (
        ("sigkill", config.kill_period, 0.12),
        ("sigterm", config.term_period, 0.32),
        ("apiserver-restart", config.apiserver_period, 0.52),
    ):
        at = config.duration * rng.uniform(first, first + 0.12)
        while at < config.duration - 5:
            events.append((round(at, 1), kind))
            at += rng.uniform(0.8 * period, 1.2 * period)
    return sorted(events)


class ApiserverStop(threading.Thread):
    """Stop kube-apiserver with ``sig`` and wait ``pause`` seconds, off the campaign's loop.

    Only the stop runs here: the start must happen on the main thread, because the control
    plane's children die with the thread that started them (``PR_SET_PDEATHSIG``).
    """

    def __init__(self, plane: ControlPlane, sig: signal.Signals, pause: float):
        super().__init__(name="apiserver-stop", daemon=True)
        self.plane = plane
        self.sig = sig
        self.pause = pause
        self.began = time.monotonic()

    def run(self) -> None:
        self.plane.stop_apiserver(self.sig)
        time.sleep(self.pause)


@dataclass
class Campaign:
    config: CampaignConfig
    workdir: Path
    say: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)
    disruptions: Counter[str] = field(default_factory=Counter)
    apiserver_downtime: list[float] = field(default_factory=list)
    _apiserver_restart: ApiserverStop | None = None

    def progress(self, message: str) -> None:
        self.say(f"[{time.monotonic() - self.started:7.1f}s] {message}")

    def run(self) -> dict[str, Any]:
        config = self.config
        rngs = {p: random.Random(f"{config.seed}:{p}") for p in ("work", "faults", "plan", "pods")}  # noqa: S311
        assets = binaries.ensure()
        plane = ControlPlane(assets, workdir=self.workdir / "control-plane", keep_workdir=True)
        sim = SimProcess(self.workdir / "simulator", seed={"seed": config.seed}, latency=0.2)
        replicas: Replicas | None = None
        try:
            plane.start()
            sim.start()
            self.progress(f"control plane at {plane.url}, simulator at {sim.url}")
            namespaces = tuple(f"chaos-{i}" for i in range(config.namespaces))
            for name in (LEASE_NAMESPACE, *namespaces):
                plane.apply(NAMESPACES.path(), {"metadata": {"name": name}})
            pool, instances = seed_cloud(sim, ZONE, nodes=3)
            register_nodes(plane, instances, uninitialized=False)
            env = exoccm_env(sim)
            replicas = Replicas(
                [Replica(name, plane.kubeconfig, env, self.workdir) for name in ("a", "b")]
            )
            replicas.start_all()
            with plane.http() as http:
                workload = Workload(http, rngs["work"], namespaces, config.services)
                phases = FaultPhases(sim, rngs["faults"])
                self._storm(plane, workload, phases, replicas, rngs)
                settle = self._settle(sim, http, workload, phases, replicas, pool["id"])
            return self._summary(sim, workload, phases, replicas, settle)
        finally:
            if replicas is not None:
                replicas.stop_all()
            sim.stop()
            plane.stop()

    # -- the storm ------------------------------------------------------------------------------

    def _storm(
        self,
        plane: ControlPlane,
        workload: Workload,
        phases: FaultPhases,
        replicas: Replicas,
        rngs: dict[str, random.Random],
    ) -> None:
        config = self.config
        schedule = disruption_schedule(config, rngs["plan"])
        self.progress("schedule: " + (", ".join(f"{k}@{at:.0f}s" for at, k in schedule) or "none"))
        events = [(at, kind, 0) for at, kind in schedule]  # (due, what, times deferred)
        start = time.monotonic()
        next_churn = start + 3.0
        next_phase = start + 5.0
        next_poll = start
        while (now := time.monotonic()) - start < config.duration:
            for note in replicas.supervise(lambda cause: self._restart_delay(cause, rngs["pods"])):
                self.progress(note)
            if now >= next_poll:
                replicas.observe()
                next_poll = now + 1.0
            if self._apiserver_restart is not None and not self._apiserver_restart.is_alive():
                self._finish_apiserver_restart(plane)
            busy = self._apiserver_restart is not None
            if events and now - start >= events[0][0] and not busy:
                at, kind, deferred = events.pop(0)
                if not self._disrupt(kind, plane, replicas, rngs["plan"]):
                    if deferred < 5:  # no leader right now: try again shortly
                        bisect.insort(events, (at + 2.0, kind, deferred + 1))
                    else:
                        self.disruptions[f"{kind}-skipped"] += 1
                continue
            if now >= next_phase:
                self.progress(phases.next_phase())
                next_phase = now + rngs["faults"].uniform(*config.fault_phase)
            if now >= next_churn:
                self.progress(workload.step())
                next_churn = now + rngs["work"].uniform(*config.churn_interval)
            time.sleep(0.2)
        if self._apiserver_restart is not None:
            self._apiserver_restart.join()
            self._finish_apiserver_restart(plane)

    def _finish_apiserver_restart(self, plane: ControlPlane) -> None:
        """The apiserver is stopped and the pause is over: start it, wait until it is ready."""
        restart = self._apiserver_restart
        assert restart is not None
        self._apiserver_restart = None
        plane.start_apiserver()
        down = time.monotonic() - restart.began
        self.apiserver_downtime.append(round(down, 1))
        self.progress(f"apiserver back (down {down:.1f}s)")

    @staticmethod
    def _restart_delay(cause: str, rng: random.Random) -> float:
        return rng.uniform(1.0, 4.0) if cause in ("sigkill", "crash") else rng.uniform(0.5, 2.0)

    def _disrupt(
        self, kind: str, plane: ControlPlane, replicas: Replicas, rng: random.Random
    ) -> bool:
        if kind == "apiserver-restart":
            # SIGTERM (graceful) or SIGKILL (a crash) and a pause in a thread, so the workload
            # goes on meeting a missing apiserver meanwhile; then a start (main thread).
            sig = rng.choice((signal.SIGTERM, signal.SIGKILL))
            self._apiserver_restart = ApiserverStop(plane, sig, rng.uniform(0.0, 4.0))
            self._apiserver_restart.start()
            self.disruptions[kind] += 1
            self.progress(f"apiserver stopping ({sig.name}) for a restart")
            return True
        leader = replicas.observe()
        if leader is None or leader.signalled is not None:
            return False  # no leader, or it is already on its way out
        if kind == "sigkill":
            leader.send(signal.SIGKILL, "sigkill")
        else:
            leader.send(signal.SIGTERM, "sigterm")
        self.disruptions[kind] += 1
        self.progress(f"{kind} leader {leader.key}")
        return True

    # -- settling and checking ----------------------------------------------------------------

    def _settle(
        self,
        sim: SimProcess,
        http: httpx.Client,
        workload: Workload,
        phases: FaultPhases,
        replicas: Replicas,
        pool_id: str,
    ) -> dict[str, Any]:
        config = self.config
        phases.clear()
        replicas.ensure_running()
        self.progress("settle: faults cleared, both replicas running; waiting for convergence")
        began = time.monotonic()
        last_report = 0.0

        def evaluate() -> checks.CheckResult:
            try:
                return checks.check(
                    http,
                    sim.load_balancers(ZONE),
                    namespaces=workload.namespaces,
                    deleted=workload.deleted,
                    pool_id=pool_id,
                    cluster_id=CLUSTER_ID,
                )
            except httpx.HTTPError as exc:
                return checks.CheckResult(failures=[f"cannot read the state: {exc!r}"])

        while True:
            for note in replicas.supervise(lambda _: 1.0):
                self.progress(note)
            replicas.observe()
            result = evaluate()
            elapsed = time.monotonic() - began
            if result.passed or elapsed > config.settle_timeout:
                break
            if elapsed - last_report >= 15.0:
                last_report = elapsed
                self.progress(
                    f"settle: {len(result.failures)} mismatches, e.g. {result.failures[0]}"
                )
            time.sleep(2.0)
        settle_seconds = round(time.monotonic() - began, 1)
        converged = result.passed
        self.progress(
            f"settle: {'converged' if converged else 'NOT converged'} after {settle_seconds}s"
        )
        writes_before = _writes(sim.requests())
        quiet_end = time.monotonic() + config.quiet_window
        while time.monotonic() < quiet_end:
            for note in replicas.supervise(lambda _: 1.0):
                self.progress(note)
            time.sleep(0.5)
        quiet_writes = _writes(sim.requests()) - writes_before
        final = evaluate()
        self.progress(
            f"quiet window: {quiet_writes} cloud writes in {config.quiet_window:g}s; final checks "
            + ("passed" if final.passed else f"FAILED ({len(final.failures)})")
        )
        return {
            "converged": converged,
            "seconds": settle_seconds,
            "quiet_window_s": config.quiet_window,
            "writes_in_quiet_window": quiet_writes,
            "replicas_running_at_end": sum(r.running() for r in replicas.members),
            "checks": final.as_json(),
        }

    # -- the summary ----------------------------------------------------------------------------

    def _summary(
        self,
        sim: SimProcess,
        workload: Workload,
        phases: FaultPhases,
        replicas: Replicas,
        settle: dict[str, Any],
    ) -> dict[str, Any]:
        requests = sim.requests()
        (self.workdir / "requests.json").write_text(json.dumps(requests))  # for forensics
        by_kind, by_name = fired(requests)
        operations = Counter(r.get("operation_id") or "unknown" for r in requests)
        logs = _log_findings(replicas)
        checks_json = settle["checks"]
        problems = list(checks_json["failures"])
        if settle["writes_in_quiet_window"]:
            problems.append(f"{settle['writes_in_quiet_window']} cloud writes after convergence")
        if logs["leaked_exceptions"]:
            problems.append(f"exceptions leaked into reconcile errors: {logs['leaked_exceptions']}")
        exits = replicas.exit_counts()
        if exits.get("crash") or exits.get("sigterm-bad-exit") or exits.get("slow-shutdown"):
            problems.append(f"replica exits that should not happen: {exits}")
        if settle["replicas_running_at_end"] != len(replicas.members):
            problems.append("a replica was not running at the end")
        return {
            "campaign": {
                "seed": self.config.seed,
                "duration_s": self.config.duration,
                "services_target": self.config.services,
                "namespaces": list(workload.namespaces),
                "workdir": str(self.workdir),
            },
            "workload": {
                "actions": dict(sorted(workload.counts.items())),
                "services_created": len(workload.created),
                "services_deleted": len(workload.deleted),
                "kube_request_errors": dict(workload.kube_errors),
            },
            "faults": {
                "phases": phases.phases,
                "rules_injected": dict(sorted(phases.rules.items())),
                "fired_by_kind": dict(sorted(by_kind.items())),
                "fired_by_name": dict(sorted(by_name.items())),
                "fired_total": sum(by_kind.values()),
            },
            "disruptions": {
                **dict(sorted(self.disruptions.items())),
                "apiserver_downtime_s": self.apiserver_downtime,
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
                "writes": _writes(requests),
                "by_operation": dict(operations.most_common()),
                "by_status": dict(Counter(str(r["status"]) for r in requests).most_common()),
            },
            "exoccm_logs": logs,
            "settle": {k: v for k, v in settle.items() if k != "checks"},
            "checks": checks_json,
            "problems": problems,
            "outcome": "pass" if not problems else "fail",
        }


def _writes(requests: list[dict[str, Any]]) -> int:
    return sum(1 for r in requests if r.get("operation_id") in NLB_WRITE_OPERATIONS)


def _log_findings(replicas: Replicas) -> dict[str, Any]:
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
                if line.get("msg") == "reconcile failed; will retry with backoff":
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


def run_campaign(config: CampaignConfig, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run one campaign; its summary. The workdir is removed on success unless ``keep``."""
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="exoccm-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"outcome": "error"}
    try:
        summary = Campaign(config, workdir, say).run()
        return summary
    finally:
        if summary["outcome"] == "pass" and not config.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"logs kept in {workdir}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.campaign", description=__doc__)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of storm (300)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the schedule (1)")
    parser.add_argument("--services", type=int, default=15, help="live Services to aim for (15)")
    parser.add_argument("--settle-timeout", type=float, default=360.0, help="seconds (360)")
    parser.add_argument("--output", type=Path, help="write the JSON summary to this file")
    parser.add_argument("--workdir", type=Path, help="directory for logs (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir even on success")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)  # noqa: T201 - progress lines are the interface

    config = CampaignConfig(
        duration=args.duration,
        seed=args.seed,
        services=args.services,
        settle_timeout=args.settle_timeout,
        workdir=args.workdir,
        keep=args.keep,
    )
    summary = run_campaign(config, say)
    text = json.dumps(summary, indent=2)
    print(text, flush=True)  # noqa: T201 - the summary is the interface
    if args.output is not None:
        args.output.write_text(text + "\n")
    return 0 if summary["outcome"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
