"""Run leader-probe processes (``leader_probe.py``) and read what they recorded.

Shared by the two-process election test and ``bench/leader_failover.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exoccm.testing.controlplane import ControlPlane

REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Interval:
    pid: int
    start: float
    end: float


def read_intervals(probe: Path) -> list[Interval]:
    if not probe.exists():
        return []
    intervals = []
    for line in probe.read_text().splitlines():
        pid, start, end = line.split()
        intervals.append(Interval(int(pid), float(start), float(end)))
    return intervals


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def grant_lease_access(plane: ControlPlane, namespace: str, account: str) -> str:
    """A Role allowing only get/create/update on Leases in ``namespace``; return a token."""
    plane.apply(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
        {
            "metadata": {"name": "leader-election"},
            "rules": [
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "verbs": ["get", "create", "update"],
                }
            ],
        },
    )
    plane.apply(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
        {
            "metadata": {"name": "leader-election"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "leader-election",
            },
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    )
    return plane.service_account_token(namespace, account)


class Candidates:
    """Starts probe processes and always cleans them up."""

    def __init__(
        self,
        plane: ControlPlane,
        kubeconfig: Path,
        namespace: str,
        workdir: Path,
        timing: tuple[float, float, float] = (4.0, 3.0, 0.4),
    ):
        self.plane = plane
        self.lease_duration, self.renew_deadline, self.retry_period = timing
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.workdir = workdir
        self.probe = workdir / "probe.log"
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(self) -> int:
        log = (self.workdir / f"candidate-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.engine.leader_probe",
                f"--kubeconfig={self.kubeconfig}",
                f"--namespace={self.namespace}",
                "--lease=exoccm-test",
                f"--probe-file={self.probe}",
                f"--lease-duration={self.lease_duration}",
                f"--renew-deadline={self.renew_deadline}",
                f"--retry-period={self.retry_period}",
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        log.close()
        self.procs[proc.pid] = proc
        return proc.pid

    def signal(self, pid: int, sig: signal.Signals) -> float:
        sent = time.time()
        self.procs[pid].send_signal(sig)
        return sent

    def acting(self, pid: int, after: float = 0.0) -> list[Interval]:
        """Intervals ``pid`` recorded, starting at or after ``after``."""
        return [i for i in read_intervals(self.probe) if i.pid == pid and i.start >= after]

    def wait_exit(self, pid: int, timeout: float = 15) -> int:
        return self.procs[pid].wait(timeout)

    def alive(self, pid: int) -> bool:
        return self.procs[pid].poll() is None

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.workdir.glob("candidate-*.log"))
        )
