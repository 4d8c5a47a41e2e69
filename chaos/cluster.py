"""The exoccm replicas of a campaign: start, signal, supervise, and who leads.

A replica is a slot ("a", "b") that holds at most one exoccm process at a time. Like a
Deployment's Pod, a process that exits for any reason is replaced after a short delay; each
replacement is a new *generation* with its own log file. What made a process exit is recorded:
a signal the campaign sent, a lost Lease (exit 1, by design), or anything else (a crash).
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from exoccm.testing.process import ExoccmProcess

_LEADER = re.compile(r"^leader_election_master_status\{[^}]*\} ([0-9.e+-]+)$", re.MULTILINE)

# A graceful shutdown that takes longer than this is recorded as slow and cut short.
SHUTDOWN_GRACE = 40.0


@dataclass
class Replica:
    """One replica slot and its current process."""

    name: str
    kubeconfig: Path
    env: Mapping[str, str]
    logdir: Path
    generation: int = 0
    process: ExoccmProcess | None = None
    restart_at: float | None = None
    signalled: str | None = None  # "sigkill" / "sigterm" while an exit we caused is pending
    signalled_at: float = 0.0
    logs: list[Path] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Names this process (slot and generation), e.g. ``a#2``."""
        return f"{self.name}#{self.generation}"

    def start(self) -> None:
        self.generation += 1
        log = self.logdir / f"exoccm-{self.name}-{self.generation}.log"
        self.logs.append(log)
        self.process = ExoccmProcess(self.kubeconfig, self.env, log).start()
        self.restart_at = None
        self.signalled = None

    def running(self) -> bool:
        return self.process is not None and self.process.running()

    def send(self, sig: signal.Signals, cause: str) -> None:
        assert self.process is not None
        assert self.process.proc is not None
        self.signalled = cause
        self.signalled_at = time.monotonic()
        self.process.proc.send_signal(sig)

    def leading(self) -> bool | None:
        """What its ``leader_election_master_status`` gauge says (None: no answer)."""
        if not self.running():
            return None
        assert self.process is not None
        try:
            text = httpx.get(f"{self.process.url}/metrics", timeout=2.0).text
        except httpx.HTTPError:
            return None
        values = _LEADER.findall(text)
        return bool(values) and float(values[0]) == 1.0

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=SHUTDOWN_GRACE)
            self.process = None


@dataclass
class Exit:
    replica: str
    code: int | None
    cause: str  # sigkill, graceful, slow-shutdown, lease-lost, crash


@dataclass
class Replicas:
    """Both replicas, their exits and restarts, and the leadership timeline."""

    members: list[Replica]
    clock: Callable[[], float] = time.monotonic
    exits: list[Exit] = field(default_factory=list)
    restarts: int = 0
    handovers: Counter[str] = field(default_factory=Counter)
    dual_leader_observations: int = 0
    leaders_seen: list[str] = field(default_factory=list)
    _last_leader: str | None = None
    _departed: dict[str, str] = field(default_factory=dict)  # process key -> why it stopped

    def start_all(self) -> None:
        for replica in self.members:
            replica.start()

    def stop_all(self) -> None:
        for replica in self.members:
            replica.stop()

    def leader(self) -> Replica | None:
        """The replica that says it leads (the first, if two briefly do)."""
        leading = [r for r in self.members if r.leading()]
        if len(leading) > 1:
            self.dual_leader_observations += 1
        return leading[0] if leading else None

    def observe(self) -> Replica | None:
        """Poll who leads and count a handover whenever the leader changes."""
        current = self.leader()
        if current is None:
            return None
        key = current.key
        if key != self._last_leader:
            if self._last_leader is not None:
                self.handovers[self._departed.get(self._last_leader, "lease-lost-or-expired")] += 1
            self.leaders_seen.append(key)
            self._last_leader = key
        return current

    def supervise(self, restart_delay: Callable[[str], float]) -> list[str]:
        """Record exits, replace exited processes once their delay is up; what happened."""
        notes = []
        now = self.clock()
        for replica in self.members:
            process = replica.process
            if process is not None and process.proc is not None:
                code = process.proc.poll()
                if code is None:
                    if (
                        replica.signalled == "sigterm"
                        and now - replica.signalled_at > SHUTDOWN_GRACE
                    ):
                        process.proc.kill()
                        replica.signalled = "slow-shutdown"
                    continue
                cause = _exit_cause(replica.signalled, code, process.logs())
                self.exits.append(Exit(replica.key, code, cause))
                self._departed.setdefault(replica.key, f"after-{cause}")
                notes.append(f"replica {replica.key} exited ({cause}, code {code})")
                replica.process = None
                replica.restart_at = now + restart_delay(cause)
            due = replica.restart_at
            if replica.process is None and due is not None and now >= due:
                replica.start()
                self.restarts += 1
                notes.append(f"replica {replica.key} started")
        return notes

    def ensure_running(self) -> None:
        """Start every replica that is down, now (settle phase)."""
        for replica in self.members:
            if replica.process is None:
                replica.start()
                self.restarts += 1

    def exit_counts(self) -> dict[str, int]:
        return dict(Counter(e.cause for e in self.exits))


def _exit_cause(signalled: str | None, code: int, logs: list[dict[str, Any]]) -> str:
    if signalled == "sigkill" and code == -signal.SIGKILL:
        return "sigkill"
    if signalled == "slow-shutdown":
        return "slow-shutdown"
    if signalled == "sigterm":
        return "graceful" if code == 0 else "sigterm-bad-exit"
    # exoccm exits 1 after losing the Lease, as client-go components do, and says so last.
    last = logs[-1] if logs else {}
    if code == 1 and last.get("msg") == "Stopped exoccm" and last.get("exit_code") == 1:
        return "lease-lost"
    return "crash"
