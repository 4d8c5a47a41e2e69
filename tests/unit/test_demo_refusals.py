"""``exoccm demo`` says what to do, before building or starting anything, when it cannot run."""

from __future__ import annotations

import argparse

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
