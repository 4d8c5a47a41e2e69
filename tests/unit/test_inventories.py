"""A zone only surveyed for orphans (the drift pass's first look at every zone) is not one exoccm
works in until exoccm's own NLBs are found there: the node controllers refresh the instances
of every registered zone, so registering each surveyed zone would cost a list per zone for ever."""

from __future__ import annotations

from dataclasses import dataclass

from exoccm.controllers.inventory import Inventories


@dataclass
class Client:
    zone: str


def test_a_surveyed_zone_is_registered_only_when_adopted() -> None:
    created: list[str] = []

    def client_for_zone(zone: str) -> Client:
        created.append(zone)
        return Client(zone)

    inventories = Inventories(client_for_zone)  # type: ignore[arg-type]
    home = inventories.zone("de-muc-1")
    assert inventories.survey("de-muc-1") is home, "a zone in use is surveyed with its inventory"

    first = inventories.survey("at-vie-1")
    assert first.zone == "at-vie-1"
    assert [z.zone for z in inventories.zones()] == ["de-muc-1"]
    assert inventories.survey("at-vie-1") is not first, "nothing kept between surveys"

    inventories.adopt(first)
    assert [z.zone for z in inventories.zones()] == ["de-muc-1", "at-vie-1"]
    assert inventories.zone("at-vie-1") is first
    inventories.adopt(inventories.survey("at-vie-1"))
    assert inventories.zone("at-vie-1") is first, "adopting again keeps the registered one"
    assert created == ["de-muc-1", "at-vie-1", "at-vie-1"]
