"""``exoccm demo`` says what to do when it cannot run, before building or starting anything where
it can tell, and removes what it made when a part fails to start."""

from __future__ import annotations

import argparse
import signal
import tempfile
from pathlib import Path

import pytest

from exoccm import demo
from exoccm.testing import binaries

ARGS = argparse.Namespace(
    no_wait=True, latency=0.2, nlb_network="127.10.0.0/16", instance_network="127.20.0.0/16"
)


@pytest.fixture(autouse=True)
def no_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**_: object) -> None:
        raise AssertionError("the demo must not build anything here")

    monkeypatch.setattr(binaries, "ensure", refuse)


def test_without_low_ports_it_names_the_sysctl(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "may_bind_low_ports", lambda: False)
    assert demo.run_demo(ARGS) == 1
    out = capsys.readouterr().out
    assert "the NLB listens on port 80" in out
    assert "sudo sysctl -w net.ipv4.ip_unprivileged_port_start=80" in out


def test_overlapping_networks_are_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "may_bind_low_ports", lambda: True)
    args = argparse.Namespace(**{**vars(ARGS), "instance_network": "127.10.0.0/24"})
    assert demo.run_demo(args) == 2
    assert "exoccm demo: the NLB network 127.10.0.0/16 and the instance network" in (
        capsys.readouterr().out
    )


def test_a_part_that_fails_to_start_is_named_and_nothing_stays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "may_bind_low_ports", lambda: True)
    monkeypatch.setattr(binaries, "ensure", lambda **_: binaries.Assets(tmp_path / "assets"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    # No binaries there: the fuller plane refuses to start, naming them.
    assert demo.run_demo(ARGS) == 1
    out = capsys.readouterr().out
    assert "exoccm demo failed: " in out
    assert "kube-controller-manager" in out
    assert "removed " in out
    assert list(tmp_path.glob("exoccm-demo-*")) == []
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
