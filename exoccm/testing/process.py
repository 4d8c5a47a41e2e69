"""exoccm as a real child process, for end-to-end tests, benchmarks and the demo."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from exoccm.testing.controlplane import _die_with_parent, free_port
from exoccm.testing.polling import wait_answering


@dataclass(eq=False)
class ExoccmProcess:
    """``python -m exoccm run`` with the given environment, logging JSON to ``log_path``."""

    kubeconfig: Path
    env: Mapping[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ExoccmProcess:
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("EXOSCALE_", "EXOCCM_"))},
            "EXOCCM_METRICS_PORT": str(self.port),
            "EXOCCM_METRICS_BIND_ADDRESS": "127.0.0.1",
            "EXOCCM_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "exoccm", "run", "--kubeconfig", str(self.kubeconfig)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=environment,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads involved
            )
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until ``/readyz`` answers 200 (caches synced)."""
        with httpx.Client(timeout=2) as client:
            wait_answering(
                client,
                f"{self.url}/readyz",
                name="exoccm",
                running=self.running,
                log=self.log_path,
                deadline=time.monotonic() + timeout,
            )

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=5).text

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (other lines are skipped)."""
        lines = []
        for raw in self.log_path.read_bytes().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                value = orjson.loads(raw)
                if isinstance(value, dict):
                    lines.append(value)
        return lines

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Send ``sig`` and wait; SIGKILL after ``timeout``. The exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@contextlib.contextmanager
def running_exoccm(
    kubeconfig: Path, env: Mapping[str, str], log_path: Path, *, ready_timeout: float = 60.0
) -> Iterator[ExoccmProcess]:
    process = ExoccmProcess(kubeconfig, env, log_path).start()
    try:
        process.wait_ready(ready_timeout)
        yield process
    finally:
        process.stop()
