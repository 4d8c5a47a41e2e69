"""Go-style durations (``10s``, ``1m30s``, ``500ms``) and plain seconds, as the Go CCM accepts."""

from __future__ import annotations

import math
import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds from a Go duration (``1h2m3.5s``) or a plain number of seconds (``10``, ``2.5``).

    Raises ValueError with a message suitable for showing to the user.
    """
    value = text.strip()
    if not value:
        raise ValueError("empty duration")
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError(f"{text!r} is not a non-negative number of seconds")
        return seconds
    sign = 1.0
    if value[0] in "+-":
        sign = -1.0 if value[0] == "-" else 1.0
        value = value[1:]
    position = 0
    total = 0.0
    while position < len(value):
        match = _PART.match(value, position)
        if match is None:
            raise ValueError(
                f"{text!r} is not a duration; use seconds (10) or a Go duration (10s, 1m30s)"
            )
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if sign < 0 and total > 0:
        raise ValueError(f"{text!r} is negative; durations must be >= 0")
    return total


def format_duration(seconds: float) -> str:
    """The shortest Go-style rendering of whole seconds (``90`` → ``1m30s``)."""
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if secs or not out:
        out += f"{secs}s"
    return out
