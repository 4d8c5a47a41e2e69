"""Reading exoccm's own writes until the Service informer's cache shows them (the informer is fed
through its reflector sink, as watch events arrive; nothing is contacted)."""

from __future__ import annotations

from typing import Any

import pytest

from exoccm.controllers.service.own_writes import MAX_AGE, OwnWrites
from exoccm.engine.informer import Informer
from exoccm.kube.client import KubeClient
from exoccm.kube.config import KubeConfig
from exoccm.kube.resources import SERVICES

pytestmark = pytest.mark.anyio

KEY = "shop/web"


def service(version: int, ip: str | None = None) -> dict[str, Any]:
    ingress = [{"ip": ip, "ipMode": "VIP"}] if ip else []
    return {
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": str(version)},
        "spec": {"type": "LoadBalancer"},
        "status": {"loadBalancer": {"ingress": ingress}},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def informer() -> Informer:
    client = KubeClient(KubeConfig(server="http://127.0.0.1:9"))  # never contacted
    informer = Informer(client, SERVICES, transform=None)
    await informer.replace([service(1)], "1")
    return informer


async def test_a_write_is_read_until_the_cache_shows_it(informer: Informer) -> None:
    writes = OwnWrites(informer)
    written = service(3, ip="194.182.1.1")
    assert writes.remember(written) is written
    # The finalizer's event (version 2) arrived, the status write's (3) not yet.
    await informer.apply("MODIFIED", service(2))
    assert writes.current(KEY, informer.get(KEY)) is written
    await informer.apply("MODIFIED", service(3, ip="194.182.1.1"))
    assert len(writes) == 0
    assert writes.current(KEY, informer.get(KEY)) is informer.get(KEY)


async def test_a_later_change_by_someone_else_is_not_hidden(informer: Informer) -> None:
    writes = OwnWrites(informer)
    writes.remember(service(3, ip="194.182.1.1"))
    await informer.apply("MODIFIED", service(3, ip="194.182.1.1"))
    await informer.apply("MODIFIED", service(4))  # a user cleared the status afterwards
    assert writes.current(KEY, informer.get(KEY)) == service(4)


async def test_nothing_written_means_the_cache(informer: Informer) -> None:
    writes = OwnWrites(informer)
    assert writes.remember(None) is None
    assert writes.current(KEY, informer.get(KEY)) is informer.get(KEY)
    assert len(writes) == 0


async def test_a_deleted_service_is_forgotten(informer: Informer) -> None:
    writes = OwnWrites(informer)
    writes.remember(service(3))
    await informer.apply("DELETED", service(4))
    assert len(writes) == 0
    assert writes.current(KEY, informer.get(KEY)) is None


async def test_an_entry_the_cache_never_confirms_expires(informer: Informer) -> None:
    clock = Clock()
    writes = OwnWrites(informer, clock=clock)
    written = service(3, ip="194.182.1.1")
    writes.remember(written)
    # A relist jumped past version 3: its event never comes.
    await informer.replace([service(7)], "7")
    assert writes.current(KEY, informer.get(KEY)) is written
    clock.now += MAX_AGE + 1
    assert writes.current(KEY, informer.get(KEY)) == service(7)
    assert len(writes) == 0
