"""Go-style durations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exoccm.config import format_go_duration, parse_go_duration


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
        ("250µs", 0.00025),
        ("0", 0.0),
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
    "text", ["", "s", "10x", "1d", "-5s", "1m-3s", "ten seconds", "inf", "nan", "1e400"]
)
def test_rejects_what_go_rejects_and_negatives(text: str) -> None:
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
