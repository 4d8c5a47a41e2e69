"""The Exoscale simulator as a child process (``exoccm sim``), driven through its admin API.

End-to-end tests, benchmarks and the demo use this rather than an in-process simulator: exoccm
then talks to it over a real socket exactly as it would to Exoscale, and test code never touches
the simulator's state from another thread.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from exoccm.sim.dataplane_addresses import LoopbackNetworks
from exoccm.testing.controlplane import _die_with_parent, free_port
from exoccm.testing.loopback import random_blocks
from exoccm.testing.polling import wait_answering

API_KEY = "EXO0123456789abcdef01234567"
API_SECRET = "local-simulator-secret-0123456789abcdefghij"  # noqa: S105 - a throwaway test key


class SimulatorError(RuntimeError):
    pass


@dataclass(eq=False)
class SimProcess:
    workdir: Path
    seed: dict[str, Any] = field(default_factory=dict)
    latency: float | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    #: ``exoccm sim --data-plane``: NLBs carry traffic on loopback addresses.
    data_plane: bool = False
    #: With a data plane, where NLB and instance IPs come from (default: /16s of its own).
    networks: LoopbackNetworks | None = None

    def __post_init__(self) -> None:
        if self.data_plane and self.networks is None:
            self.networks = random_blocks().networks

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        """``EXOSCALE_API_ENDPOINT`` for exoccm."""
        return f"{self.url}/{{zone}}/v2"

    @property
    def log_path(self) -> Path:
        return self.workdir / "simulator.log"

    def env(self, zone: str) -> dict[str, str]:
        """The environment exoccm needs to use this simulator with ``zone`` as default."""
        return {
            "EXOSCALE_API_KEY": API_KEY,
            "EXOSCALE_API_SECRET": API_SECRET,
            "EXOSCALE_API_ENDPOINT": self.endpoint,
            "EXOSCALE_API_ZONE": zone,
        }

    def start(self, timeout: float = 30.0) -> SimProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        seed = {"api_keys": [{"key": API_KEY, "secret": API_SECRET}], **self.seed}
        seed_file = self.workdir / "seed.json"
        seed_file.write_bytes(orjson.dumps(seed))
        args = [sys.executable, "-m", "exoccm", "sim", "--port", str(self.port)]
        args += ["--seed", str(seed_file)]
        if self.latency is not None:
            args += ["--latency", str(self.latency)]
        if self.data_plane:
            assert self.networks is not None
            args += ["--data-plane", "--nlb-network", self.networks.load_balancers]
            args += ["--instance-network", self.networks.instances]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads involved
            )
        proc = self.proc
        with httpx.Client(timeout=2) as client:
            wait_answering(
                client,
                f"{self.url}/_sim/zones",
                name="the simulator",
                running=lambda: proc.poll() is None,
                log=self.log_path,
                deadline=time.monotonic() + timeout,
                error=SimulatorError,
            )
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def call(self, method: str, **kwargs: Any) -> Any:
        """``Simulator.<method>(**kwargs)`` through the admin API; its result."""
        response = httpx.post(f"{self.url}/_sim/{method}", content=orjson.dumps(kwargs), timeout=30)
        if response.status_code >= 400:
            raise SimulatorError(f"{method}: {response.status_code} {response.text}")
        return orjson.loads(response.content).get("result")

    def load_balancers(self, zone: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("load_balancers", zone=zone)
        return result

    def count(self, operation_id: str | None = None, **kwargs: Any) -> int:
        return int(self.call("count", operation_id=operation_id, **kwargs))

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("requests")
        return result


@contextlib.contextmanager
def running_simulator(workdir: Path, **kwargs: Any) -> Iterator[SimProcess]:
    sim = SimProcess(workdir, **kwargs).start()
    try:
        yield sim
    finally:
        sim.stop()
