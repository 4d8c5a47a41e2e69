"""Rules for annotation values: each turns the raw text into a typed value or refuses it.

A rule is a function of the value alone. It returns the typed value or raises :class:`RefusedValueError`
with a message that says what is allowed; the caller names the annotation. Annotation values are
arbitrary Unicode strings, so no rule leans on Python's lenient parsers: ``int()`` takes ``1_0``,
signs, spaces and other scripts' digits, ``float()`` takes ``1e1`` and ``inf``, ``\\d`` matches
non-ASCII digits and ``$`` matches before a final newline. Every pattern here is ASCII and
fully matched.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from exoccm.config.durations import (
    NANOSECONDS_PER_SECOND,
    format_go_duration,
    go_duration_nanoseconds,
)

# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F (NUL, TAB, LF, CR, ESC, DEL...).
CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")
_ASCII_DIGITS = re.compile("[0-9]+")
_UUID = re.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
UUID_EXAMPLE = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"


class RefusedValueError(ValueError):
    """A value a rule does not accept; the message says what is allowed."""


def text(value: str, *, max_length: int) -> str:
    """Free text such as a description: 0 to ``max_length`` printable characters."""
    _refuse_control_characters(value)
    _check_length(value, 0, max_length)
    return value


def name(value: str, *, max_length: int) -> str:
    """A name: 1 to ``max_length`` printable characters, not only whitespace."""
    _refuse_control_characters(value)
    if not value.strip():
        raise RefusedValueError(
            f"must not be blank: give 1 to {max_length} characters, not only whitespace"
        )
    _check_length(value, 1, max_length)
    return value


def server_name(value: str, *, max_length: int) -> str:
    """A TLS server name (SNI): a name without whitespace."""
    name(value, max_length=max_length)
    _refuse_whitespace(value, "a server name such as shop.example.com")
    return value


def http_path(value: str, *, max_length: int) -> str:
    """A health-check URI: a path starting with ``/``, without whitespace."""
    _refuse_control_characters(value)
    if not value.startswith("/"):
        raise RefusedValueError('must be a path starting with "/"')
    _refuse_whitespace(value, 'a path starting with "/"; write a space as %20')
    _check_length(value, 1, max_length)
    return value


def integer(value: str, *, low: int, high: int) -> int:
    """A whole number written in ASCII digits only, from ``low`` to ``high``."""
    if not _ASCII_DIGITS.fullmatch(value):
        raise RefusedValueError(
            f"must be an integer from {low} to {high}, written with the digits 0-9 only "
            "(no sign, spaces, separators or exponent)"
        )
    digits = value.lstrip("0") or "0"
    # A number with more digits than the bound is out of range; int() of a huge one is refused.
    if len(digits) > len(str(high)) or not low <= int(digits) <= high:
        raise RefusedValueError(f"must be from {low} to {high}")
    return int(digits)


def whole_seconds(value: str, *, low: int, high: int) -> int:
    """A Go duration (``10s``, ``1m30s``) of whole seconds, from ``low`` to ``high`` seconds.

    A bare number is refused, as Go's ``time.ParseDuration`` (and so the Go CCM) refuses it.
    """
    allowed = f"{format_go_duration(low)} to {format_go_duration(high)}"
    try:
        nanoseconds = go_duration_nanoseconds(value)
    except ValueError:
        if _ASCII_DIGITS.fullmatch(value):
            raise RefusedValueError(
                f'needs a unit, as every Go duration does: use "{value}s" for seconds ({allowed})'
            ) from None
        raise RefusedValueError(
            f"must be a Go duration such as 10s, 1m or 1m30s ({allowed}), in ASCII without "
            "spaces or exponent"
        ) from None
    seconds, rest = divmod(nanoseconds, NANOSECONDS_PER_SECOND)
    if rest:
        raise RefusedValueError(f"must be a whole number of seconds ({allowed})")
    if not low <= seconds <= high:
        raise RefusedValueError(f"must be from {allowed}")
    return seconds


def uuid(value: str) -> str:
    """A UUID in any letter case, returned in lower case."""
    if not _UUID.fullmatch(value):
        raise RefusedValueError(f"must be a UUID such as {UUID_EXAMPLE}")
    return value.lower()


def boolean(value: str) -> bool:
    """``true`` or ``false`` in any letter case (the Go CCM lower-cases), nothing around it."""
    lowered = value.lower() if value.isascii() else ""
    if lowered not in ("true", "false"):
        raise RefusedValueError('must be "true" or "false" (any letter case, without spaces)')
    return lowered == "true"


def choice(value: str, allowed: Collection[str]) -> str:
    """One of ``allowed``, exactly (case-sensitive)."""
    if value not in allowed:
        raise RefusedValueError(f"must be one of {', '.join(allowed)}")
    return value


def _refuse_control_characters(value: str) -> None:
    found = CONTROL_CHARACTER.search(value)
    if found is not None:
        raise RefusedValueError(
            f"must not contain control characters such as line breaks, tabs or NUL; found "
            f"U+{ord(found.group()):04X} at character {found.start() + 1}"
        )


def _refuse_whitespace(value: str, allowed: str) -> None:
    if any(character.isspace() for character in value):
        raise RefusedValueError(f"must not contain whitespace: {allowed}")


def _check_length(value: str, low: int, high: int) -> None:
    if not low <= len(value) <= high:
        raise RefusedValueError(f"must be {low} to {high} characters long, not {len(value)}")
