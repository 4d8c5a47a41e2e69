"""The Lease holder identity names the Pod, as the chart's POD_NAME tells it."""

from __future__ import annotations

import socket

import pytest

from exoccm.app import RunOptions


def test_the_identity_is_the_pod_name_with_a_random_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "exoccm-6c9f7d8b9-x2x4q")
    first, second = RunOptions().identity, RunOptions().identity
    assert first.startswith("exoccm-6c9f7d8b9-x2x4q_")
    assert first != second, "a restarted container never takes its predecessor's Lease as its own"


def test_without_pod_name_the_hostname_stands_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POD_NAME", raising=False)
    assert RunOptions().identity.startswith(f"{socket.gethostname()}_")
