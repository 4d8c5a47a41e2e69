"""httpcore imports sniffio on every lock and event it sets up and falls back to asyncio when
that fails; Python does not remember failed imports, so without sniffio each request searched
sys.path again. ``remember_missing_sniffio`` makes that failure immediate."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from exoccm.app import remember_missing_sniffio


def test_a_missing_sniffio_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    remember_missing_sniffio()
    marker: object = sys.modules["sniffio"]
    assert marker is None, "Python's own marker for an import that fails"
    with pytest.raises(ImportError):
        importlib.import_module("sniffio")


def test_an_installed_sniffio_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    remember_missing_sniffio()
    assert "sniffio" not in sys.modules
