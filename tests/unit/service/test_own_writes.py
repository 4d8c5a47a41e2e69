"""Reading exoccm's own writes while the Service cache shows a version known to come before
them, and the cache otherwise."""

from __future__ import annotations

from typing import Any

from exoccm.controllers.service.own_writes import MAX_AGE, OwnWrites

KEY = "shop/web"


def service(version: int, ip: str | None = None, zone: str | None = None) -> dict[str, Any]:
    ingress = [{"ip": ip, "ipMode": "VIP"}] if ip else []
    annotations = {"zone": zone} if zone else {}
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "resourceVersion": str(version),
            "annotations": annotations,
        },
        "status": {"loadBalancer": {"ingress": ingress}},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reconcile_writes(writes: OwnWrites) -> dict[str, Any]:
    """A reconcile that started from version 1: finalizer (2), annotations (3), status (4)."""
    start = service(1)
    finalized = writes.remember(start, service(2))
    assert finalized is not None
    annotated = writes.remember(finalized, service(3))
    assert annotated is not None
    written = writes.remember(annotated, service(4, ip="194.182.1.1"))
    assert written is not None
    return written


def test_while_the_cache_shows_an_earlier_version_the_write_is_read() -> None:
    writes = OwnWrites()
    written = reconcile_writes(writes)
    for behind in (1, 2, 3):  # the cache has not shown the status write yet
        assert writes.current(KEY, service(behind)) is written


def test_once_the_cache_shows_the_write_the_cache_is_read() -> None:
    writes = OwnWrites()
    reconcile_writes(writes)
    cached = service(4, ip="194.182.1.1")
    assert writes.current(KEY, cached) is cached
    assert len(writes) == 0


def test_a_version_not_known_to_come_before_is_read_as_it_is() -> None:
    writes = OwnWrites()
    reconcile_writes(writes)
    # The status write's event came before its answer was noted, then a user moved the zone.
    changed = service(5, ip="194.182.1.1", zone="ch-gva-2")
    assert writes.current(KEY, changed) is changed
    assert len(writes) == 0


def test_nothing_written_means_the_cache() -> None:
    writes = OwnWrites()
    assert writes.remember(service(1), None) is None
    cached = service(1)
    assert writes.current(KEY, cached) is cached


def test_a_write_that_changed_nothing_is_no_reason_to_hide_the_cache() -> None:
    writes = OwnWrites()
    writes.remember(service(3), service(3))  # a no-op patch answers the same version
    later = service(4)
    assert writes.current(KEY, later) is later


def test_a_deleted_service_stays_deleted() -> None:
    writes = OwnWrites()
    reconcile_writes(writes)
    assert writes.current(KEY, None) is None
    assert len(writes) == 0


def test_an_answer_is_read_for_a_while_only() -> None:
    clock = Clock()
    writes = OwnWrites(clock=clock)
    written = reconcile_writes(writes)
    assert writes.current(KEY, service(3)) is written
    clock.now += MAX_AGE + 1
    assert writes.current(KEY, service(3)) == service(3)
    assert len(writes) == 0


def test_writes_of_the_next_reconcile_extend_what_is_known_to_come_before() -> None:
    writes = OwnWrites()
    first = reconcile_writes(writes)
    again = writes.remember(first, service(6, ip="194.182.1.2"))
    assert writes.current(KEY, service(2)) is again
    assert writes.current(KEY, service(4, ip="194.182.1.1")) is again
