"""Leader failover times between real processes on a real apiserver.

Usage::

    .venv/bin/python bench/leader_failover.py [--trials 3] [--timing 15,10,2]

Starts its own etcd + kube-apiserver, runs ``tests/integration/engine/leader_probe.py``
candidates under a ServiceAccount allowed only get/create/update on Leases in one namespace,
and measures, per trial, the wall time from signalling the leader to the first guarded action
of its successor:

* ``sigterm_handoff``: graceful exit releases the Lease (client-go's ReleaseOnCancel);
* ``sigkill_takeover``: a crash, so the standby waits out the lease on its own clock.

Anchors: client-go's leader election (k8s.io/client-go/tools/leaderelection) with the usual
15/10/2 s lease duration, renew deadline and retry period replaces a crashed leader once the
lease has expired, in ~15-20 s, and hands over in ~1-4 s when the leader releases the lease. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exoccm.kube.resources import NAMESPACES
from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane
from tests.integration.engine.leader_harness import Candidates, grant_lease_access, wait_for


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 2),
        "median": round(statistics.median(values), 2),
        "max": round(max(values), 2),
    }


def _leader(candidates: Candidates, alive: list[int], timeout: float) -> int:
    found: list[int] = []

    def someone_acts() -> bool:
        now = time.time()
        found[:] = [pid for pid in alive if candidates.acting(pid, after=now - 0.5)]
        return len(found) == 1

    wait_for(someone_acts, timeout, "a leader")
    return found[0]


def _first_action(candidates: Candidates, pid: int, after: float, timeout: float) -> float:
    def acted() -> bool:
        return bool(candidates.acting(pid, after))

    wait_for(acted, timeout, f"process {pid} to lead")
    return candidates.acting(pid, after)[0].start


def run(trials: int, timing: tuple[float, float, float], workdir: Path) -> dict[str, Any]:
    lease_duration, _, retry_period = timing
    handoffs: list[float] = []
    takeovers: list[float] = []
    with ControlPlane(binaries.ensure(), workdir=workdir / "plane") as plane:
        namespace = f"bench-{uuid.uuid4().hex[:8]}"
        plane.apply(NAMESPACES.path(), {"metadata": {"name": namespace}})
        token = grant_lease_access(plane, namespace, "elector")
        kubeconfig = plane.write_kubeconfig(workdir / "kubeconfig", token, user="elector")
        candidates = Candidates(plane, kubeconfig, namespace, workdir, timing=timing)
        try:
            alive = [candidates.start(), candidates.start()]
            budget = lease_duration * 2 + 30
            for _ in range(trials):
                leader = _leader(candidates, alive, budget)
                (standby,) = [pid for pid in alive if pid != leader]
                sent = candidates.signal(leader, signal.SIGTERM)
                handoffs.append(_first_action(candidates, standby, sent, budget) - sent)
                candidates.wait_exit(leader)
                alive = [standby, candidates.start()]
                # Let the newcomer observe the current record, as a long-running standby has.
                time.sleep(2 * retry_period * 2.2 + 1.0)
                newcomer = alive[1]
                sent = candidates.signal(standby, signal.SIGKILL)
                takeovers.append(_first_action(candidates, newcomer, sent, budget) - sent)
                candidates.wait_exit(standby)
                alive = [newcomer, candidates.start()]
        finally:
            candidates.close()
    return {
        "sigterm_handoff_seconds": _stats(handoffs),
        "sigkill_takeover_seconds": _stats(takeovers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument(
        "--timing", default="15,10,2", help="lease duration, renew deadline, retry period (s)"
    )
    args = parser.parse_args()
    ld, rd, rp = (float(part) for part in args.timing.split(","))
    with tempfile.TemporaryDirectory(prefix="exoccm-failover-") as tmp:
        measured = run(args.trials, (ld, rd, rp), Path(tmp))
    result = {
        "benchmark": "leader_failover",
        "trials": args.trials,
        "lease_duration": ld,
        "renew_deadline": rd,
        "retry_period": rp,
        **measured,
        "expected_max_seconds_plus_request_latency": {
            "sigterm_handoff_max": round(rp * 2.2, 2),
            "sigkill_takeover_max": round(ld + 2 * rp * 2.2, 2),
        },
        "anchors_client_go_seconds": {"sigterm_handoff": "1-4", "sigkill_takeover": "15-20"},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
