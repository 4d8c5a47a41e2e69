"""The fault campaign: ``python -m chaos.campaign [--duration S] [--seed N] [--services N]``.

One etcd + kube-apiserver, one Exoscale simulator (operation latency 0.2 s) with an Instance
Pool and its Nodes in each of two zones, two exoccm replicas sharing a Lease. For ``--duration``
seconds a seeded schedule creates, updates (zone moves included) and deletes LoadBalancer
Services, lets a hostile tenant name NLBs that are not its own, injects Exoscale faults (lying
listings included) in phases, SIGKILLs the leader, hands leadership over with SIGTERM and
restarts the apiserver; exited replicas are replaced, as a Deployment would. Every Service's IP
is sampled once a second throughout. Then the settle phase clears the faults and waits (bounded)
until the simulator's NLBs are exactly what the Services ask for. Progress goes to stdout line
by line; the summary is printed as JSON and written to ``--output``. The exit code is 0 when
every check passed.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
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

from chaos import checks
from chaos.cluster import Replica, Replicas
from chaos.faults import STUCK_SECONDS, FaultPhases
from chaos.ground import Ground, seed_zones
from chaos.hostile import HostileTenant
from chaos.ingress import IngressWatch
from chaos.summary import Parts, summarize, writes
from chaos.workload import Workload
from exoccm.kube.resources import NAMESPACES
from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.simprocess import SimProcess

ZONE = "de-muc-1"  # exoccm's default zone
OTHER_ZONE = "ch-gva-2"  # where zone moves go
NODES_PER_ZONE = {ZONE: 3, OTHER_ZONE: 2}
CLUSTER_ID = "chaos"
LEASE_NAMESPACE = "chaos-system"


def exoccm_env(sim: SimProcess, operation_timeout: float) -> dict[str, str]:
    return {
        **sim.env(ZONE),
        "EXOCCM_CLUSTER_ID": CLUSTER_ID,
        "EXOCCM_LEADER_ELECTION_NAMESPACE": LEASE_NAMESPACE,
        "EXOCCM_LEADER_ELECTION_NAME": "exoccm-chaos",
        "EXOCCM_LEASE_DURATION": "4s",
        "EXOCCM_RENEW_DEADLINE": "3s",
        "EXOCCM_RETRY_PERIOD": "0.5s",
        "EXOCCM_DRIFT_PERIOD": "5s",
        "EXOCCM_OPERATION_TIMEOUT": f"{operation_timeout:g}s",
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
    hostile_namespaces: int = 2
    max_attackers: int = 6
    max_victims: int = 3
    hostile_interval: tuple[float, float] = (3.0, 7.0)
    sample_period: float = 1.0
    settle_timeout: float = 360.0
    quiet_window: float = 15.0
    workdir: Path | None = None
    keep: bool = False
    kill_period: float = 40.0
    term_period: float = 45.0
    apiserver_period: float = 75.0
    fault_phase: tuple[float, float] = (12.0, 25.0)
    # Stuck operations outlive exoccm's deadline for waiting on them, then complete.
    operation_timeout: float = 20.0
    stuck_seconds: tuple[float, float] = STUCK_SECONDS
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
        streams = ("work", "faults", "plan", "pods", "hostile")
        rngs = {p: random.Random(f"{config.seed}:{p}") for p in streams}  # noqa: S311
        assets = binaries.ensure()
        plane = ControlPlane(assets, workdir=self.workdir / "control-plane", keep_workdir=True)
        sim = SimProcess(self.workdir / "simulator", seed={"seed": config.seed}, latency=0.2)
        replicas: Replicas | None = None
        try:
            plane.start()
            sim.start()
            self.progress(f"control plane at {plane.url}, simulator at {sim.url}")
            namespaces = tuple(f"chaos-{i}" for i in range(config.namespaces))
            hostile_namespaces = tuple(f"tenant-{i}" for i in range(config.hostile_namespaces))
            for name in (LEASE_NAMESPACE, *namespaces, *hostile_namespaces):
                plane.apply(NAMESPACES.path(), {"metadata": {"name": name}})
            cloud = checks.Cloud(ZONE, seed_zones(sim, plane, NODES_PER_ZONE), CLUSTER_ID)
            with plane.http() as http:
                workload = Workload(
                    http, rngs["work"], namespaces, config.services, zones=tuple(cloud.pools)
                )
                hostile = HostileTenant(
                    http,
                    sim,
                    rngs["hostile"],
                    hostile_namespaces,
                    workload,
                    cloud,
                    max_attackers=config.max_attackers,
                    max_victims=config.max_victims,
                )
                hostile.prepare()  # before exoccm starts: nothing but the tenant names them
                cloud = dataclasses.replace(cloud, not_ours=hostile.not_ours())
                hostile.cloud = cloud
                ground = Ground(http, sim, cloud, workload, hostile, IngressWatch(cloud))
                self.progress(
                    f"zones {dict(cloud.pools)}; the other cluster's NLB {hostile.foreign['id']}; "
                    f"hand-made NLBs {[p.nlb['id'] for p in hostile.pairs]}"
                )
                env = exoccm_env(sim, config.operation_timeout)
                replicas = Replicas(
                    [Replica(name, plane.kubeconfig, env, self.workdir) for name in ("a", "b")]
                )
                replicas.start_all()
                phases = FaultPhases(sim, rngs["faults"], stuck_seconds=config.stuck_seconds)
                self._storm(plane, ground, phases, replicas, rngs)
                settle = self._settle(ground, phases, replicas)
                return summarize(
                    Parts(config, self.workdir, ground, phases, replicas),
                    settle,
                    {
                        **dict(sorted(self.disruptions.items())),
                        "apiserver_downtime_s": self.apiserver_downtime,
                    },
                )
        finally:
            if replicas is not None:
                replicas.stop_all()
            sim.stop()
            plane.stop()

    # -- the storm ------------------------------------------------------------------------------

    def _storm(
        self,
        plane: ControlPlane,
        ground: Ground,
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
        next_hostile = start + 2.0
        next_poll = next_sample = start
        while (now := time.monotonic()) - start < config.duration:
            for note in replicas.supervise(lambda cause: self._restart_delay(cause, rngs["pods"])):
                self.progress(note)
            if now >= next_poll:
                replicas.observe()
                next_poll = now + 1.0
            if now >= next_sample:
                ground.sample(now)
                next_sample = now + config.sample_period
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
                self.progress(ground.workload.step())
                next_churn = now + rngs["work"].uniform(*config.churn_interval)
            if now >= next_hostile:
                for note in ground.hostile.step(now, (now - start) / config.duration):
                    self.progress(note)
                next_hostile = now + rngs["hostile"].uniform(*config.hostile_interval)
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

    def _settle(self, ground: Ground, phases: FaultPhases, replicas: Replicas) -> dict[str, Any]:
        config = self.config
        phases.clear()
        replicas.ensure_running()
        stuck_until = phases.stuck_until(ground.sim.requests())
        began = time.monotonic()
        stuck_wait = max(0.0, stuck_until - began)
        self.progress(
            "settle: faults cleared, both replicas running; waiting for convergence"
            + (f" and {stuck_wait:.0f}s for stuck operations to land" if stuck_wait else "")
        )
        last_report = 0.0

        def wait(seconds: float) -> None:
            """Supervise the replicas and go on sampling for ``seconds``."""
            end = time.monotonic() + seconds
            while (now := time.monotonic()) < end:
                for note in replicas.supervise(lambda _: 1.0):
                    self.progress(note)
                ground.sample(now)
                time.sleep(min(config.sample_period, max(0.0, end - time.monotonic())))

        while True:
            replicas.observe()
            state = ground.evaluate()
            elapsed = time.monotonic() - began
            landed = time.monotonic() >= stuck_until
            if (state.passed and landed) or elapsed > config.settle_timeout:
                break
            if elapsed - last_report >= 15.0 and state.failures:
                last_report = elapsed
                self.progress(f"settle: {len(state.failures)} mismatches, e.g. {state.failures[0]}")
            wait(2.0)
        settle_seconds = round(time.monotonic() - began, 1)
        converged = state.passed
        self.progress(
            f"settle: {'converged' if converged else 'NOT converged'} after {settle_seconds}s"
        )
        writes_before = writes(ground.sim.requests())
        wait(config.quiet_window)
        quiet_writes = writes(ground.sim.requests()) - writes_before
        final = ground.evaluate()
        self.progress(
            f"quiet window: {quiet_writes} cloud writes in {config.quiet_window:g}s; final checks "
            + ("passed" if final.passed else f"FAILED ({len(final.failures)})")
        )
        return {
            "converged": converged,
            "seconds": settle_seconds,
            "stuck_operations_landing_s": round(stuck_wait, 1),
            "quiet_window_s": config.quiet_window,
            "writes_in_quiet_window": quiet_writes,
            "replicas_running_at_end": sum(r.running() for r in replicas.members),
            "checks": final.as_json(),
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
