"""Reading the Prometheus text format of a ``/metrics`` page: samples by name and labels."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Metric:
    name: str
    labels: Mapping[str, str]
    value: float


def parse(text: str) -> list[Metric]:
    """Every sample of the page (comments skipped)."""
    return [
        Metric(name, dict(_LABEL.findall(labels or "")), float(value))
        for name, labels, value in _SAMPLE.findall(text)
    ]


def by_label(metrics: Iterable[Metric], name: str, label: str) -> dict[str, float]:
    """The samples of ``name`` summed by the value of ``label``."""
    out: dict[str, float] = {}
    for metric in metrics:
        if metric.name == name:
            key = metric.labels.get(label, "")
            out[key] = out.get(key, 0.0) + metric.value
    return out


def delta(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, int]:
    """``after - before`` per key, as whole numbers, zeros left out."""
    out = {k: round(v - before.get(k, 0.0)) for k, v in sorted(after.items())}
    return {k: v for k, v in out.items() if v}
