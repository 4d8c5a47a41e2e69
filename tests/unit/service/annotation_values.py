"""Values for annotations, generated from their declared kinds (hypothesis strategies).

Every kind of :mod:`exoccm.controllers.service.value_kinds` has a strategy of values it accepts,
at every boundary of its bounds; a declaration of a kind without one fails
``test_declarations.py`` until one is added here.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from exoccm.controllers.service.declarations import Annotation
from exoccm.controllers.service.value_kinds import (
    Boolean,
    Choice,
    HttpPath,
    Integer,
    Name,
    Seconds,
    ServerName,
    Text,
    Uuid,
    ValueKind,
    Zone,
)
from exoccm.exoscale.endpoints import KNOWN_ZONES

# Printable text: every character but the control characters (Unicode category Cc).
_PRINTABLE = st.characters(exclude_categories=["Cc", "Cs"])
_NO_SPACE = st.characters(exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"])

# Anything at all: out of range, too long, not a number, empty, with control characters, digits
# of other scripts, separators or exponents.
JUNK = (
    st.text(max_size=300)
    | st.integers(-(10**6), 10**6).map(str)
    | st.sampled_from(["1_0", "\u0661\u0660", "1e1", "1e1s", "10", " true ", "/x\r\ny", "\x00"])
)


def _text(
    low: int, high: int, alphabet: st.SearchStrategy[str] = _PRINTABLE
) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


def _name(high: int, alphabet: st.SearchStrategy[str] = _PRINTABLE) -> st.SearchStrategy[str]:
    return _text(1, high, alphabet).filter(str.strip)


def _go_minutes(n: int) -> str:
    return f"{n // 60}m{n % 60}s" if n >= 60 else f"{n}s"


def _seconds(low: int, high: int) -> st.SearchStrategy[str]:
    seconds = st.integers(low, high)
    millis = seconds.map(lambda n: f"{n * 1000}ms")
    return seconds.map(lambda n: f"{n}s") | seconds.map(_go_minutes) | millis


def accepted_by(kind: ValueKind[Any]) -> st.SearchStrategy[str]:
    """Values ``kind`` accepts (zones: those of :data:`KNOWN_ZONES`)."""
    match kind:
        case Text(max_length=high):
            return _text(0, high)
        case Name(max_length=high):
            return _name(high)
        case ServerName(max_length=high):
            return _name(high, _NO_SPACE)
        case HttpPath(max_length=high):
            return _text(0, high - 1, _NO_SPACE).map(lambda rest: "/" + rest)
        case Integer(low=low, high=high):
            return st.integers(low, high).map(str)
        case Seconds(low=low, high=high):
            return _seconds(low, high)
        case Uuid():
            return st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())
        case Boolean():
            return st.sampled_from(["true", "false", "TRUE", "False"])
        case Choice(options=options):
            return st.sampled_from(options)
        case Zone():
            return st.sampled_from(sorted(KNOWN_ZONES))
    raise LookupError(
        f"no strategy for values of {kind!r}: add one to tests/unit/service/annotation_values.py"
    )


def accepted_for(annotation: Annotation[Any]) -> st.SearchStrategy[str]:
    """Values the annotation accepts, the empty value among them where it means unset."""
    accepted = accepted_by(annotation.value)
    return accepted | st.just("") if annotation.empty_is_unset else accepted


def now_and_then_junk(annotation: Annotation[Any]) -> st.SearchStrategy[str]:
    """Mostly accepted values, and one time in thirty anything at all."""
    valid = accepted_for(annotation)
    return st.integers(0, 29).flatmap(lambda roll: JUNK if roll == 0 else valid)
