"""``exoccm demo`` as a newcomer runs it: the seed story to the last curl, what to try next, and
nothing left behind after Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from exoccm.testing import binaries
from exoccm.testing.loopback import random_blocks
from tests.e2e.conftest import wait_for

WELCOME = "Welcome to Hello Corp"
SERVED_BY = re.compile(r"^X-Served-By: (10\.\d+\.\d+\.\d+):80@(website-\S+)$")


@dataclass
class Demo:
    """``exoccm demo`` running as a child process, its output collected as it comes."""

    process: subprocess.Popen[str]
    tmp: Path
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, start: str, timeout: float = 240) -> str:
        def found() -> str | None:
            if self.process.poll() is not None and not any(x.startswith(start) for x in self.lines):
                raise AssertionError(f"the demo ended early:\n{self.output}")
            return next((line for line in self.lines if line.startswith(start)), None)

        line: str = wait_for(found, timeout=timeout, what=f"a line starting {start!r}")
        return line

    def close(self) -> None:
        """Kill the demo if it still runs; stop reading its output."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        self._reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def stop(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(60)
        wait_for(
            lambda: self.lines and self.lines[-1].startswith("stopped"),
            timeout=10,
            what=f"the demo's last words; it said:\n{self.output}",
        )
        return code

    def section(self, command: str) -> list[str]:
        """The lines printed under ``$ <command>``, up to the next blank line."""
        start = self.lines.index(f"$ {command}") + 1
        end = self.lines.index("", start)
        return self.lines[start:end]


@pytest.fixture(scope="module")
def full_assets() -> binaries.Assets:
    return binaries.ensure(needs=binaries.FULL_PLANE)


@pytest.fixture
def demo(full_assets: binaries.Assets, tmp_path: Path) -> Iterator[Demo]:
    """The demo with networks of its own (so it never meets another on this machine) and its
    temporary directory under ``tmp_path``."""
    blocks = random_blocks()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("EXOSCALE_", "EXOCCM_"))},
        "EXOCCM_KUBE_ASSETS": str(full_assets.directory),
        "TMPDIR": str(tmp_path),
    }
    networks = blocks.networks
    arguments = ["--nlb-network", networks.load_balancers, "--instance-network", networks.instances]
    process = subprocess.Popen(
        [sys.executable, "-m", "exoccm", "demo", "--latency", "0.2", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=environment,
    )
    started = Demo(process, tmp_path)
    try:
        yield started
    finally:
        started.close()


def _left_behind(tmp: Path) -> list[str]:
    """The demo's directories still in ``tmp``, and the processes still running from them."""
    leftovers = [str(path) for path in tmp.glob("exoccm-demo-*")]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it ended meanwhile
        if f"{tmp}/exoccm-demo-" in command:
            leftovers.append(command)
    return leftovers


def test_the_demo_plays_the_seed_story_and_ctrl_c_removes_everything(demo: Demo) -> None:
    demo.wait_for_line("Press Ctrl-C")

    # kubectl, really run: 3 website Pods Running, the Service with its EXTERNAL-IP.
    pods = demo.section("kubectl -n hello-corp get pods -o wide")
    assert pods[0].split()[:3] == ["NAME", "READY", "STATUS"]
    assert len(pods) == 4
    assert all(row.split()[1:3] == ["1/1", "Running"] for row in pods[1:])
    pod_ips = {row.split()[0]: row.split()[5] for row in pods[1:]}
    [service] = demo.section("kubectl -n hello-corp get svc website")[1:]
    name, kind, _, external_ip, ports = service.split()[:5]
    assert (name, kind) == ("website", "LoadBalancer")
    assert re.fullmatch(r"80:\d+/TCP", ports)

    # The Nodes' ExternalIPs are what the NLB health-checks, and both pass.
    nodes = demo.section("kubectl get nodes -o wide")
    header = nodes[0].split()
    external = {row.split()[0]: row.split()[header.index("EXTERNAL-IP")] for row in nodes[1:]}
    assert len(external) == 2
    assert "as the Exoscale simulator holds it" in demo.output
    assert "the exo CLI talks to the real Exoscale and did not run here" in demo.output
    [status] = [line for line in demo.lines if "Healthcheck Status" in line]
    measured = status.split("Healthcheck Status", 1)[1].strip().split(", ")
    assert dict(entry.split(":") for entry in measured) == dict.fromkeys(
        external.values(), "success"
    )
    assert f"  IP Address  {external_ip}" in demo.output

    # curl and the X-Served-By loop, made by the demo as real requests.
    assert demo.section(f"curl http://{external_ip}") == [WELCOME]
    loop = demo.section(
        f"for i in $(seq 10); do curl -siI http://{external_ip} | grep X-Served-By; done"
    )
    served = [SERVED_BY.match(line) for line in loop]
    assert len(served) == 10
    assert all(match is not None for match in served), loop
    assert {(m.group(2), m.group(1)) for m in served if m} <= set(pod_ips.items())
    assert len({m.group(2) for m in served if m}) >= 2

    # What it tells the user to try works: curl and kubectl, on the PATH it names.
    answer = httpx.get(f"http://{external_ip}", timeout=10)
    assert (answer.status_code, answer.text) == (200, WELCOME + "\n")
    path = re.search(r"export PATH=(\S+):\$PATH", demo.output)
    kubeconfig = re.search(r"export KUBECONFIG=(\S+)", demo.output)
    assert path is not None
    assert kubeconfig is not None
    tried = subprocess.run(
        ["kubectl", "-n", "hello-corp", "get", "pods,svc"],
        env={
            **os.environ,
            "PATH": f"{path.group(1)}:{os.environ['PATH']}",
            "KUBECONFIG": kubeconfig.group(1),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tried.returncode == 0, tried.stderr
    assert external_ip in tried.stdout
    assert _left_behind(demo.tmp)  # everything is still there while the demo waits

    assert demo.stop(signal.SIGINT) == 0
    assert demo.lines[-1].startswith("stopped exoccm, the simulator, the stand-ins and Kubernetes")
    assert _left_behind(demo.tmp) == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{external_ip}", timeout=5)


def test_sigterm_while_it_starts_stops_everything_and_removes_its_directory(demo: Demo) -> None:
    demo.wait_for_line("[2/6]")
    assert _left_behind(demo.tmp)

    assert demo.stop(signal.SIGTERM) == 130
    assert _left_behind(demo.tmp) == []
    assert "Press Ctrl-C" not in demo.output
