"""A run with known secrets: they appear in no log line, repr, error message or metric."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import structlog
from prometheus_client import generate_latest

from exoccm.config import ConfigError, Settings
from exoccm.exoscale import (
    ClientOptions,
    Credentials,
    ExoscaleClients,
    ExoscaleError,
    RetryPolicy,
    WaitPolicy,
)
from exoccm.sim import Fault, Simulator
from tests.integration.exoscale.conftest import SIM_ENDPOINT, ZONE, eventually

pytestmark = pytest.mark.anyio


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__!r}")


@pytest.fixture
def captured_logs() -> Iterator[list[str]]:
    """Every structlog event (rendered with repr) and stdlib record (message and attributes)."""
    lines: list[str] = []

    def keep(_: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        lines.append(f"{method} {event!r}")
        raise structlog.DropEvent

    structlog.configure(
        processors=[structlog.processors.format_exc_info, keep],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=False,
    )
    handler = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        lines.extend(handler.lines)
        root.removeHandler(handler)
        root.setLevel(old_level)
        structlog.reset_defaults()


async def test_secrets_appear_nowhere(tmp_path: Path, captured_logs: list[str]) -> None:
    sim = Simulator(seed=11)
    key, secret = sim.add_api_key()
    new_key, new_secret = sim.add_api_key()
    limited_key, limited_secret = sim.add_api_key(operations={"list-load-balancers"})
    secrets = [secret, new_secret, limited_secret]
    texts: list[str] = []

    # Configuration: a bad secret, a bad setting next to a good secret, then a good setup.
    env = {"EXOSCALE_API_ZONE": ZONE, "EXOSCALE_API_ENDPOINT": SIM_ENDPOINT}
    for broken in (
        env | {"EXOSCALE_API_KEY": key, "EXOSCALE_API_SECRET": secret + " \n"},
        env | {"EXOSCALE_API_KEY": key, "EXOSCALE_API_SECRET": secret, "EXOCCM_API_BURST": "x"},
    ):
        with pytest.raises(ConfigError) as config_error:
            Settings.from_environment(broken, namespace_file=tmp_path / "none")
        texts += [str(config_error.value), repr(config_error.value)]
    static = Settings.from_environment(
        env | {"EXOSCALE_API_KEY": key, "EXOSCALE_API_SECRET": secret},
        namespace_file=tmp_path / "none",
    )
    texts += [repr(static), str(static), static.model_dump_json(), str(static.model_dump())]

    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"api_key": key, "api_secret": secret, "name": "first"}))
    settings = Settings.from_environment(
        env | {"EXOSCALE_API_CREDENTIALS_FILE": str(path)}, namespace_file=tmp_path / "none"
    )
    options = ClientOptions(
        retry=RetryPolicy(max_attempts=3, initial_backoff=0.01, jitter=0.0),
        wait=WaitPolicy(first_delay=0.01),
    )
    transport = httpx.ASGITransport(app=sim.app)
    clients = ExoscaleClients.from_settings(settings, transport=transport, options=options)
    watcher = clients.credentials_watcher()
    assert watcher is not None
    watcher.debounce, watcher.recheck_interval = 0.05, 0.2
    errors: list[ExoscaleError] = []

    async with clients, anyio.create_task_group() as tg:
        tg.start_soon(watcher.run)
        client = clients.zone()
        texts += [repr(clients), str(clients), repr(client), repr(client.session.limiter)]
        texts += [repr(clients.credentials), repr(clients.credentials.current), repr(watcher)]
        sim.inject("list-load-balancers", Fault.http(503), count=1)
        lb = await client.create_load_balancer("k8s-leak", labels={"owner": "test"})
        await client.list_load_balancers()
        sim.inject("update-load-balancer", Fault.operation_failure(reason="fault"), count=1)
        for call in (
            client.update_load_balancer(lb.id, name="x"),
            client.get_instance("00000000-0000-4000-8000-000000000000"),
        ):
            try:
                await call
            except ExoscaleError as exc:
                errors.append(exc)
        async with ExoscaleClients(
            Credentials.of(limited_key, limited_secret),
            zone=ZONE,
            endpoint=SIM_ENDPOINT,
            transport=transport,
        ) as limited:
            texts.append(repr(limited))
            try:
                await limited.zone().list_instances()
            except ExoscaleError as exc:
                errors.append(exc)
        with anyio.fail_after(10):
            await watcher.ready.wait()
            path.write_text('{"api_key": "' + new_key + '", "api_secret": "' + new_secret + '"')
            await eventually(lambda: watcher.last_problem is not None)
            path.write_text(
                json.dumps({"api_key": new_key, "api_secret": new_secret, "name": "new"})
            )
            await eventually(lambda: clients.credentials.current.key == new_key)
        await client.list_load_balancers()
        tg.cancel_scope.cancel()

    assert [type(e).__name__ for e in errors] == [
        "OperationFailedError",
        "NotFoundError",
        "ForbiddenError",
    ]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts.append(generate_latest().decode())
    logs = "\n".join(captured_logs)
    # The capture really saw the client's events (so a silent logging setup cannot pass this).
    for event in (
        "Retrying Exoscale request",
        "Failed to reload Exoscale credentials",
        "Reloaded Exoscale credentials",
        "Exoscale request",
    ):
        assert event in logs, event
    everything = logs + "\n".join(texts)
    for value in secrets:
        assert value not in everything
    # Whole API keys stay out of logs and reprs too (only EXO…1234 forms).
    for value in (key, new_key, limited_key):
        where = everything.find(value)
        assert where < 0, everything[max(0, where - 300) : where + 100]
