"""Credentials rotation while requests run: a rewritten file and a Kubernetes ``..data`` swap."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest

from exoccm.config import Settings
from exoccm.exoscale import (
    ClientOptions,
    CredentialsFileError,
    CredentialsFileWatcher,
    ExoscaleClients,
    WaitPolicy,
)
from exoccm.exoscale.credentials import load_credentials_file
from exoccm.sim import Simulator
from tests.integration.exoscale.conftest import SIM_ENDPOINT, ZONE, eventually

pytestmark = pytest.mark.anyio


def credentials_json(key: tuple[str, str], name: str) -> str:
    return json.dumps({"api_key": key[0], "api_secret": key[1], "name": name})


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


class SecretVolume:
    """A directory laid out like a Kubernetes Secret volume, updated the way the kubelet does."""

    def __init__(self, root: Path, text: str) -> None:
        self.root = root
        self.generation = 0
        self._publish(text)
        (root / "credentials.json").symlink_to("..data/credentials.json")

    def _publish(self, text: str) -> None:
        self.generation += 1
        data = self.root / f"..2024_01_01_00_00_0{self.generation}"
        data.mkdir()
        (data / "credentials.json").write_text(text)
        link = self.root / "..data_tmp"
        link.symlink_to(data.name)
        os.replace(link, self.root / "..data")

    def update(self, text: str) -> None:
        old = (self.root / "..data").resolve()
        self._publish(text)
        for child in old.iterdir():
            child.unlink()
        old.rmdir()

    @property
    def path(self) -> Path:
        return self.root / "credentials.json"


class KeyRecorder(httpx.AsyncBaseTransport):
    """Passes requests to the simulator and remembers which API key signed each."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.keys: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("authorization", "")
        self.keys.append(header.split("credential=", 1)[1].split(",", 1)[0] if header else "")
        return await self.inner.handle_async_request(request)


def settings_for(path: Path) -> Settings:
    return Settings.from_environment(
        {
            "EXOSCALE_API_ZONE": ZONE,
            "EXOSCALE_API_CREDENTIALS_FILE": str(path),
            "EXOSCALE_API_ENDPOINT": SIM_ENDPOINT,
        },
        namespace_file=path.parent / "none",
    )


def fast_watcher(clients: ExoscaleClients) -> CredentialsFileWatcher:
    watcher = clients.credentials_watcher()
    assert watcher is not None
    watcher.debounce, watcher.recheck_interval = 0.05, 0.2
    return watcher


async def rotate_while_requests_run(
    sim: Simulator,
    path: Path,
    old: tuple[str, str],
    new: tuple[str, str],
    rotate: Callable[[str], object],
) -> None:
    """Keep calling the API, rotate from ``old`` to ``new``, revoke ``old``, keep calling.

    Passes only if the new key took over, no request failed, and none used the old key after
    the switch.
    """
    recorder = KeyRecorder(httpx.ASGITransport(app=sim.app))
    options = ClientOptions(wait=WaitPolicy(first_delay=0.01))
    clients = ExoscaleClients.from_settings(settings_for(path), transport=recorder, options=options)
    watcher = fast_watcher(clients)
    assert clients.credentials.current.key == old[0]

    completed = 0

    async def keep_calling() -> None:
        nonlocal completed
        client = clients.zone()
        while True:
            await client.list_load_balancers()
            completed += 1
            await anyio.sleep(0.01)

    async def until_completed(count: int) -> None:
        target = completed + count
        await eventually(lambda: completed >= target)

    async with clients, anyio.create_task_group() as tg:
        tg.start_soon(watcher.run)
        tg.start_soon(keep_calling)
        with anyio.fail_after(10):
            await watcher.ready.wait()
            await until_completed(3)
            rotate(credentials_json(new, "rotated"))
            await eventually(lambda: clients.credentials.current.key == new[0])
            # Let a request that started after the switch finish, then revoke the old key:
            # every later request must be signed with the new one.
            await until_completed(2)
            sim.add_api_key(old[0], "R" * 43)
            await until_completed(3)
        tg.cancel_scope.cancel()

    assert clients.credentials.current.name == "rotated"
    assert sim.count("list-load-balancers") == len(recorder.keys)
    assert sim.count("list-load-balancers", status=200) == len(recorder.keys), "a request failed"
    assert recorder.keys[0] == old[0]
    switch = recorder.keys.index(new[0])
    assert set(recorder.keys[switch:]) == {new[0]}
    assert len(recorder.keys) - switch >= 5


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=5)


async def test_file_replaced_atomically(sim: Simulator, tmp_path: Path) -> None:
    old, new = sim.add_api_key(), sim.add_api_key()
    path = tmp_path / "credentials.json"
    path.write_text(credentials_json(old, "initial"))
    await rotate_while_requests_run(sim, path, old, new, lambda text: write_atomically(path, text))


async def test_file_rewritten_in_place(sim: Simulator, tmp_path: Path) -> None:
    old, new = sim.add_api_key(), sim.add_api_key()
    path = tmp_path / "credentials.json"
    path.write_text(credentials_json(old, "initial"))
    await rotate_while_requests_run(sim, path, old, new, path.write_text)


async def test_kubernetes_secret_volume_swap(sim: Simulator, tmp_path: Path) -> None:
    old, new = sim.add_api_key(), sim.add_api_key()
    volume = SecretVolume(tmp_path, credentials_json(old, "initial"))
    assert load_credentials_file(volume.path).key == old[0]
    await rotate_while_requests_run(sim, volume.path, old, new, volume.update)
    assert load_credentials_file(volume.path).key == new[0]


async def test_invalid_update_keeps_the_previous_credentials(
    sim: Simulator, tmp_path: Path
) -> None:
    old, new = sim.add_api_key(), sim.add_api_key()
    path = tmp_path / "credentials.json"
    path.write_text(credentials_json(old, "initial"))
    clients = ExoscaleClients.from_settings(
        settings_for(path), transport=httpx.ASGITransport(app=sim.app)
    )
    watcher = fast_watcher(clients)

    def problem() -> str | None:
        return watcher.last_problem

    async with clients, anyio.create_task_group() as tg:
        tg.start_soon(watcher.run)
        with anyio.fail_after(10):
            await watcher.ready.wait()
            write_atomically(path, '{"api_key": "' + new[0] + '", "api_secret": ')
            # Wait for the watcher to see the broken file (it keeps re-reading it).
            await eventually(lambda: watcher.last_problem is not None)
            assert clients.credentials.current.key == old[0]
            assert "not valid JSON" in (problem() or "")
            assert await clients.zone().list_load_balancers() == ()
            write_atomically(path, credentials_json(new, "fixed"))
            await eventually(lambda: clients.credentials.current.key == new[0])
            assert problem() is None
            assert await clients.zone().list_load_balancers() == ()
        tg.cancel_scope.cancel()
    assert sim.count(status=200) == len(sim.requests) == 2


def test_missing_file_at_startup_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(credentials_json(("EXO0123456789abcdef01234567", "s" * 43), "x"))
    settings = settings_for(path)
    path.unlink()
    with pytest.raises(CredentialsFileError, match="cannot read the credentials file"):
        ExoscaleClients.from_settings(settings)


async def test_a_cancelled_watch_stops_without_waiting_out_its_recheck_interval(
    sim: Simulator, tmp_path: Path
) -> None:
    """A Pod's grace period (45 s) is shorter than the default recheck interval (60 s): the
    watch must end on cancellation, not when its blocking wait next times out."""
    path = tmp_path / "credentials.json"
    path.write_text(credentials_json(("EXO" + "a" * 24, "s" * 43), "first"))
    clients = ExoscaleClients.from_settings(
        settings_for(path), transport=httpx.ASGITransport(app=sim.app)
    )
    watcher = clients.credentials_watcher()
    assert watcher is not None
    watcher.recheck_interval = 60.0
    started = anyio.current_time()
    with anyio.fail_after(20):  # far below the 60 s the blocking wait would take
        async with clients, anyio.create_task_group() as tg:
            tg.start_soon(watcher.run)
            await anyio.sleep(1.0)  # the watch thread is now in its blocking wait
            tg.cancel_scope.cancel()
    assert anyio.current_time() - started < 20
