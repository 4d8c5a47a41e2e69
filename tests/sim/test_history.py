"""The history behind lagging listings: rewinding, late-recorded changes, and its bounds."""

from __future__ import annotations

from exoccm.sim.faults import MAX_LAG_SECONDS
from exoccm.sim.history import MAX_HISTORY_ENTRIES, History


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _history(
    keep_seconds: float = MAX_LAG_SECONDS, max_entries: int = MAX_HISTORY_ENTRIES
) -> tuple[History, Clock]:
    clock = Clock()
    return History(clock, keep_seconds=keep_seconds, max_entries=max_entries), clock


def test_rewind_undoes_the_changes_after_the_moment_shown() -> None:
    history, clock = _history()
    table: dict[str, str] = {}
    history.record("instances", "a", None)  # t=0: a created
    table["a"] = "a1"
    clock.now = 5
    history.record("instances", "a", b"a1")  # t=5: a edited
    table["a"] = "a2"
    history.record("instances", "b", None)  # t=5: b created
    table["b"] = "b1"
    clock.now = 8
    history.record("instances", "b", b"b1")  # t=8: b deleted
    del table["b"]

    assert history.rewind("instances", table, -1, bytes.decode) == {}
    assert history.rewind("instances", table, 0, bytes.decode) == {"a": "a1"}
    assert history.rewind("instances", table, 4.9, bytes.decode) == {"a": "a1"}
    assert history.rewind("instances", table, 5, bytes.decode) == {"a": "a2", "b": "b1"}
    assert history.rewind("instances", table, 7.9, bytes.decode) == {"a": "a2", "b": "b1"}
    assert history.rewind("instances", table, 8, bytes.decode) == {"a": "a2"}
    # Other tables are not touched by these entries.
    assert history.rewind("instance_pools", {"p": "p1"}, -1, bytes.decode) == {"p": "p1"}


def test_several_changes_at_one_instant_rewind_to_the_first_state() -> None:
    history, clock = _history()
    clock.now = 3
    history.record("load_balancers", "x", b"creating")
    history.record("load_balancers", "x", b"running")
    assert history.rewind("load_balancers", {"x": "deleting"}, 2, bytes.decode) == {"x": "creating"}


def test_a_change_recorded_late_takes_its_place_in_time() -> None:
    """An Operation settled lazily records its change at its due time, before later entries."""
    history, clock = _history()
    clock.now = 10
    history.record("instances", "i", None)  # an instance created at t=10
    clock.now = 3
    history.record("load_balancers", "x", b"creating")  # an operation due at t=3
    view = history.rewind("load_balancers", {"x": "running"}, 5, bytes.decode)
    assert view == {"x": "running"}
    assert history.rewind("load_balancers", {"x": "running"}, 2, bytes.decode) == {"x": "creating"}
    assert history.rewind("instances", {"i": "up"}, 5, bytes.decode) == {}


def test_entries_older_than_the_longest_lag_are_dropped() -> None:
    history, clock = _history(keep_seconds=10)
    for second in range(30):
        clock.now = second
        history.record("instances", f"i{second}", None)
    # Entries at t <= 29 - 10 are gone: no lag can reach back to them.
    assert len(history) == 10
    table = {f"i{second}": "up" for second in range(30)}
    assert sorted(history.rewind("instances", table, 19, bytes.decode)) == sorted(
        f"i{second}" for second in range(20)
    )


def test_beyond_the_entry_cap_the_horizon_moves_up() -> None:
    history, clock = _history(max_entries=5)
    for second in range(8):
        clock.now = second
        history.record("instances", f"i{second}", None)
    assert len(history) == 5
    assert history.horizon == 2
    table = {f"i{second}": "up" for second in range(8)}
    # The moment before the horizon cannot be shown: the view is the zone as of t=2.
    assert sorted(history.rewind("instances", table, 0, bytes.decode)) == ["i0", "i1", "i2"]


def test_the_horizon_never_splits_an_instant() -> None:
    """When the cap drops one of two changes made at one instant, a view before that instant
    would show half of them; it shows the instant whole instead."""
    history, clock = _history(max_entries=2)
    history.record("instances", "a", None)
    clock.now = 1
    history.record("instances", "b", None)
    history.record("instances", "c", None)
    clock.now = 2
    history.record("instances", "d", None)
    assert (len(history), history.horizon) == (2, 1)
    table = dict.fromkeys("abcd", "up")
    assert sorted(history.rewind("instances", table, 0.5, bytes.decode)) == ["a", "b", "c"]
