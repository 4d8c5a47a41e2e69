from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exoccm.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10", 10),
        ("2.5", 2.5),
        ("10s", 10),
        ("1m30s", 90),
        ("1h", 3600),
        ("500ms", 0.5),
        ("1.5m", 90),
        ("0", 0),
        ("  7s ", 7),
    ],
)
def test_parses(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten", "10x", "-5s", "-3", "1m-3s", "nan", "s"])
def test_refuses_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|seconds|negative"):
        parse_duration(text)


@given(st.integers(0, 10**6))
def test_format_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
