"""Go durations (``10s``, ``1m30s``, ``500ms``), as the Go CCM's flags and annotations use them.

The syntax is Go's ``time.ParseDuration``: an optional sign, then one or more decimal numbers
each followed by a unit (``ns``, ``us``, ``ms``, ``s``, ``m``, ``h``), or ``0`` alone. Only ASCII
is accepted: no spaces, no exponent (``1e1``), no digit separators (``1_0``), no other scripts'
digits, and not the micro signs Go also takes for ``us``. Python's ``float()`` and ``\\d``
accept all of those, so nothing here relies on them.

Settings (``EXOCCM_*``) also take a plain number of seconds, so ``EXOCCM_API_TIMEOUT=30`` works;
annotations do not, as in the Go CCM.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

NANOSECONDS_PER_SECOND = 10**9
_UNIT_NANOSECONDS = {
    "ns": 1,
    "us": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
# Go refuses a duration that does not fit its int64 of nanoseconds (about 292 years).
MAX_NANOSECONDS = 2**63 - 1
# [0-9], never \d: in a str pattern \d matches every script's digits.
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_COMPONENT = re.compile(rf"(?P<number>{_NUMBER})(?P<unit>ns|us|ms|s|m|h)")
_GO_DURATION = re.compile(rf"(?P<sign>[-+]?)(?P<body>(?:{_NUMBER}(?:ns|us|ms|s|m|h))+|0)")
_PLAIN_SECONDS = re.compile(rf"(?P<sign>[-+]?)(?P<number>{_NUMBER})")
_SETTING_FORMS = (
    "use a number of seconds or Go syntax such as '30s', '1m30s', '500ms' or '2h' "
    "(units: ns, us, ms, s, m, h; ASCII digits, no exponent)"
)


def go_duration_nanoseconds(text: str) -> int:
    """Nanoseconds in ``text``, read exactly as Go's ``time.ParseDuration`` (ASCII only).

    Raises :class:`ValueError` for anything Go refuses, for the micro signs, and for a bare
    number (Go's "missing unit in duration", except ``0``).
    """
    match = _GO_DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Go duration such as '10s', '1m30s' or '500ms'")
    body = match["body"]
    total = 0
    if body != "0":
        for part in _COMPONENT.finditer(body):
            total += _nanoseconds(part["number"], _UNIT_NANOSECONDS[part["unit"]])
    return _signed(match["sign"], total, text)


def parse_go_duration(value: str | float | timedelta) -> float:
    """Seconds in ``value``: a Go duration string, a number of seconds, or a timedelta.

    Surrounding whitespace of a string is ignored (environment files often carry some).
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
        seconds = _setting_text_seconds(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a non-negative finite duration, got {value!r}")
    return seconds


def _setting_text_seconds(value: str) -> float:
    text = value.strip()
    if not text:
        raise ValueError("expected a duration such as '30s' or '1m30s', got an empty value")
    plain = _PLAIN_SECONDS.fullmatch(text)
    if plain is not None:
        nanoseconds = _signed(
            plain["sign"], _nanoseconds(plain["number"], NANOSECONDS_PER_SECOND), text
        )
    else:
        try:
            nanoseconds = go_duration_nanoseconds(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a duration; {_SETTING_FORMS}") from None
    return nanoseconds / NANOSECONDS_PER_SECOND


def _nanoseconds(number: str, unit: int) -> int:
    """``number`` (ASCII ``12``, ``1.5``, ``.5``, ``3.``) times ``unit``, rounded as Go does.

    Go multiplies the whole part exactly and the fraction in float64, keeping the fraction's
    digits only while they fit an int64; so does this, to give the same nanoseconds.
    """
    whole, _, fraction = number.partition(".")
    whole = whole.lstrip("0")
    if len(whole) > 19:  # beyond any int64; int() of a huge digit string is slow or refused
        raise ValueError(f"{number!r} is longer than the longest Go duration (about 292 years)")
    nanoseconds = int(whole or "0") * unit
    digits, scale = 0, 1.0
    for digit in fraction:
        if digits * 10 + int(digit) > MAX_NANOSECONDS + 1:
            break
        digits, scale = digits * 10 + int(digit), scale * 10
    if digits:
        nanoseconds += int(float(digits) * (unit / scale))
    return nanoseconds


def _signed(sign: str, nanoseconds: int, text: str) -> int:
    if nanoseconds > MAX_NANOSECONDS + (sign == "-"):
        raise ValueError(f"{text!r} is longer than the longest Go duration (about 292 years)")
    return -nanoseconds if sign == "-" else nanoseconds


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
