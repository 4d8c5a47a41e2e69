"""Go-style durations (``10s``, ``1m30s``, ``500ms``), as the Go CCM's flags and annotations use.

Plain numbers are accepted too and mean seconds, so ``EXOCCM_API_TIMEOUT=30`` works.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # Go accepts both micro signs
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_WHOLE = re.compile(rf"(?:{_PART.pattern})+")


def parse_go_duration(value: str | float | timedelta) -> float:
    """Seconds in ``value``: a Go duration string, a number of seconds, or a timedelta.

    Raises :class:`ValueError` with an example of the expected form. Negative durations are
    rejected: no exoccm setting can use one.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(  # noqa: TRY004 - pydantic reports ValueError, not TypeError
            "expected a duration such as '30s' or '1m30s', not a boolean"
        )
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        if not text:
            raise ValueError("expected a duration such as '30s' or '1m30s', got an empty value")
        try:
            seconds = float(text)
        except ValueError:
            seconds = _parse_units(text)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a non-negative finite duration, got {value!r}")
    return seconds


def _parse_units(text: str) -> float:
    if text == "0":
        return 0.0
    if not _WHOLE.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a duration; use a number of seconds or Go syntax such as "
            "'30s', '1m30s', '500ms' or '2h' (units: ns, us, ms, s, m, h)"
        )
    return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))


def format_go_duration(seconds: float) -> str:
    """The shortest Go-style string for ``seconds``: 600 → ``10m``, 90 → ``1m30s``, 0.5 → ``500ms``."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    whole = int(seconds)
    rest = seconds - whole
    hours, remainder = divmod(whole, 3600)
    minutes, secs = divmod(remainder, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if secs or rest:
        out += f"{secs + rest:g}s"
    return out
