"""Go-style durations: Go's own syntax, ASCII only, and plain seconds for settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exoccm.config import format_go_duration, parse_go_duration
from exoccm.config.durations import MAX_NANOSECONDS, go_duration_nanoseconds

S, M, H = 10**9, 60 * 10**9, 3600 * 10**9


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("1m30s", 90.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h2m3s", 3723.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        (".5m", 30.0),
        ("250us", 0.00025),
        ("0", 0.0),
        ("5.", 5.0),
        (".5", 0.5),
        ("30", 30.0),
        ("2.5", 2.5),
        (" 10s ", 10.0),
    ],
)
def test_parses_go_syntax_and_plain_seconds(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


def test_accepts_numbers_and_timedeltas() -> None:
    assert parse_go_duration(12) == 12.0
    assert parse_go_duration(timedelta(minutes=2)) == 120.0


@pytest.mark.parametrize(
    "text",
    [
        *("", "s", "10x", "1d", "-5s", "-5", "1m-3s", "ten seconds", "1 0s", "10 s"),
        # What float() or \\d would let through: exponents, infinities, digit separators, other
        # scripts' digits, and Go's micro signs (not ASCII).
        *("inf", "nan", "Infinity", "1e400", "1e1", "1E1", "1e1s", "1_0", "1_0s"),
        *(
            "\u0661\u0660",
            "\u0661\u0660s",
            "\uff11\uff10",
            "\uff11\uff10s",
            "250\u00b5s",
            "250\u03bcs",
        ),
        *("9" * 5000, "9" * 5000 + "s", "9223372036854775808ns", "2562048h"),
    ],
)
def test_rejects_what_go_rejects_non_ascii_and_negatives(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|non-negative"):
        parse_go_duration(text)


def test_rejects_booleans() -> None:
    with pytest.raises(ValueError, match="boolean"):
        parse_go_duration(True)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (600, "10m"),
        (90, "1m30s"),
        (0.5, "500ms"),
        (3600, "1h"),
        (3723, "1h2m3s"),
        (0, "0s"),
        (2.5, "2.5s"),
    ],
)
def test_formats_like_go(seconds: float, text: str) -> None:
    assert format_go_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**7))
def test_format_then_parse_round_trips_whole_seconds(seconds: int) -> None:
    assert parse_go_duration(format_go_duration(seconds)) == seconds


@given(
    hours=st.integers(0, 100),
    minutes=st.integers(0, 59),
    secs=st.integers(0, 59),
    millis=st.integers(0, 999),
)
def test_parses_composed_durations(hours: int, minutes: int, secs: int, millis: int) -> None:
    text = f"{hours}h{minutes}m{secs}s{millis}ms"
    assert parse_go_duration(text) == pytest.approx(
        hours * 3600 + minutes * 60 + secs + millis / 1000
    )


# Go's time.ParseDuration on these gives exactly these nanoseconds (cases of the Go standard
# library's own parse tests), including float rounding of fractions of an hour and the int64
# limits.
GO_ACCEPTS = {
    "0": 0,
    "-0": 0,
    "+0": 0,
    "5s": 5 * S,
    "+5s": 5 * S,
    "-5s": -5 * S,
    "5.0s": 5 * S,
    "5.6s": 5 * S + 600_000_000,
    "5.s": 5 * S,
    ".5s": S // 2,
    "1.004s": S + 4_000_000,
    "100.00100s": 100 * S + 1_000_000,
    "10ns": 10,
    "11us": 11_000,
    "13ms": 13_000_000,
    "15m": 15 * M,
    "16h": 16 * H,
    "3h30m": 3 * H + 30 * M,
    "10.5s4m": 4 * M + 10 * S + S // 2,
    "-2m3.4s": -(2 * M + 3 * S + 400_000_000),
    "1h2m3s4ms5us6ns": H + 2 * M + 3 * S + 4_000_000 + 5_000 + 6,
    "39h9m14.425s": 39 * H + 9 * M + 14 * S + 425_000_000,
    "52763797000ns": 52_763_797_000,
    "0.3333333333333333333h": 20 * M,
    "0.100000000000000000000h": 6 * M,
    "0.830103483285477580700h": 49 * M + 48 * S + 372_539_827,
    "9007199254740993ns": 2**53 + 1,
    "9223372036854775807ns": MAX_NANOSECONDS,
    "9223372036854775.807us": MAX_NANOSECONDS,
    "9223372036s854ms775us807ns": MAX_NANOSECONDS,
    "-9223372036854775808ns": -(2**63),
    "-9223372036s854ms775us808ns": -(2**63),
}


@pytest.mark.parametrize(("text", "nanoseconds"), GO_ACCEPTS.items())
def test_go_syntax_gives_the_nanoseconds_go_gives(text: str, nanoseconds: int) -> None:
    assert go_duration_nanoseconds(text) == nanoseconds


@pytest.mark.parametrize(
    "text",
    [
        *("", "3", "10", "-", "s", ".", "-.", ".s", "+.s", "1d", "\x85\x85", "hello \xff world"),
        *("9223372036854775808ns", "9223372036854775.808us", "9223372036s854ms775us808ns"),
        *("-9223372036854775809ns", "12\u00b5s", "12\u03bcs", "1e1s", "1_0s", "+-1s", "1s1"),
        *(" 1s", "1s ", "1s\n", "1 s", "\uff11s", "\u0661s", "1.5.s", "00"),
    ],
)
def test_strict_go_syntax_refuses_what_go_refuses_and_non_ascii(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        go_duration_nanoseconds(text)


# Digits of other scripts, the micro signs, exponents, separators and spaces next to Go's own.
_LOOKALIKES = "0123456789.+-nsumh" + "\u0661\uff11\u00b5\u03bc" + "eE_ \t\n"


@given(st.text(alphabet=_LOOKALIKES, max_size=12))
def test_every_accepted_duration_is_made_of_go_characters_only(text: str) -> None:
    try:
        go_duration_nanoseconds(text)
    except ValueError:
        return
    assert set(text) <= set("0123456789.+-nsumh")


@given(st.integers(0, 10**6), st.sampled_from(["", "s", "ms", "m", "h"]))
def test_settings_read_plain_seconds_and_go_units_alike(number: int, unit: str) -> None:
    per_unit = {"": 1.0, "s": 1.0, "ms": 1e-3, "m": 60.0, "h": 3600.0}[unit]
    assert parse_go_duration(f"{number}{unit}") == pytest.approx(number * per_unit)
