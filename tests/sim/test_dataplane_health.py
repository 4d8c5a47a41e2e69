"""Health checks: the state machine, the probing loop's rhythm, and each probe mode on real
sockets (tcp, http, https with SNI), with the loopback-only rule."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import ByteStream, SocketAttribute, SocketStream
from anyio.streams.tls import TLSListener

from exoccm.sim.dataplane_health import HealthState, monitor
from exoccm.sim.dataplane_net import RefusedDestinationError, connect
from exoccm.sim.dataplane_probe import Healthcheck, probe
from exoccm.testing import pki
from exoccm.testing.loopback import LoopbackBlocks, random_blocks

pytestmark = pytest.mark.anyio

PORT = 30999


@pytest.fixture
def blocks() -> LoopbackBlocks:
    return random_blocks()


@pytest.fixture
def member(blocks: LoopbackBlocks) -> str:
    return blocks.client_ip(0)


@pytest.fixture
def source(blocks: LoopbackBlocks) -> str:
    return blocks.client_ip(1)


def check(mode: str = "tcp", **kwargs: object) -> Healthcheck:
    fields: dict[str, object] = {"port": PORT, "interval": 5, "timeout": 2, "retries": 1}
    fields.update(kwargs)
    return Healthcheck(mode=mode, **fields)  # type: ignore[arg-type]


# -- the state machine --------------------------------------------------------------------------


def test_a_member_is_unhealthy_until_a_probe_succeeds() -> None:
    state = HealthState(retries=1)
    assert state.healthy is False
    assert state.record(False) is False
    assert state.record(True) is True


@pytest.mark.parametrize("retries", [1, 2, 5])
def test_a_member_fails_after_retries_plus_one_failures_in_a_row(retries: int) -> None:
    state = HealthState(retries=retries)
    state.record(True)
    assert [state.record(False) for _ in range(retries)] == [True] * retries
    assert state.record(False) is False
    assert state.record(False) is False


def test_a_success_forgives_earlier_failures() -> None:
    state = HealthState(retries=2)
    state.record(True)
    outcomes = [False, False, True, False, False]
    assert [state.record(ok) for ok in outcomes] == [True, True, True, True, True]
    assert state.record(False) is False


# -- the probing loop ---------------------------------------------------------------------------


class _Stop(Exception):
    pass


async def test_probes_start_every_interval_and_report_each_outcome() -> None:
    """Fake time: each probe takes 1.5 s; the loop must sleep the rest of the interval."""
    now = [0.0]
    outcomes = iter([True, False, False, True, False])
    started: list[float] = []
    reports: list[bool] = []

    async def fake_probe() -> bool:
        started.append(now[0])
        now[0] += 1.5
        return next(outcomes)

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds
        if len(reports) == 5:
            raise _Stop

    with pytest.raises(_Stop):
        await monitor(
            fake_probe,
            reports.append,
            interval=7,
            retries=1,
            sleep=fake_sleep,
            clock=lambda: now[0],
        )
    assert started == [0.0, 7.0, 14.0, 21.0, 28.0]
    assert reports == [True, True, False, True, True]


async def test_a_slow_probe_is_followed_at_once_by_the_next() -> None:
    now = [0.0]
    sleeps: list[float] = []

    async def slow_probe() -> bool:
        now[0] += 9.0
        return True

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise _Stop

    with pytest.raises(_Stop):
        await monitor(
            slow_probe,
            lambda _: None,
            interval=5,
            retries=1,
            sleep=fake_sleep,
            clock=lambda: now[0],
        )
    assert sleeps == [0.0, 0.0]


# -- probes on real sockets ---------------------------------------------------------------------


@asynccontextmanager
async def serving(
    ip: str, handler: Callable[[Any], Awaitable[None]], *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[None]:
    listener = await anyio.create_tcp_listener(local_host=ip, local_port=PORT)
    async with listener, anyio.create_task_group() as group:
        served = TLSListener(listener, tls, standard_compatible=False) if tls else listener
        group.start_soon(served.serve, handler)
        try:
            yield
        finally:
            group.cancel_scope.cancel()


def http_answer(
    status: str, seen: list[bytes] | None = None
) -> Callable[[ByteStream], Awaitable[None]]:
    async def answer(stream: ByteStream) -> None:
        async with stream:
            request = await stream.receive()  # the probe's request fits one read
            if seen is not None:
                seen.append(request)
            await stream.send(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())

    return answer


async def test_tcp_probe_needs_an_accepted_connection(member: str, source: str) -> None:
    assert await probe(member, check(), source=source) is False  # nothing listens
    async with serving(member, lambda s: s.aclose()):
        assert await probe(member, check(), source=source) is True


async def test_http_probe_wants_status_200_at_the_uri(member: str, source: str) -> None:
    seen: list[bytes] = []
    async with serving(member, http_answer("200 OK", seen)):
        assert await probe(member, check("http", uri="/healthz"), source=source) is True
    assert seen[0].startswith(b"GET /healthz HTTP/1.1\r\n")
    for status in ("503 Service Unavailable", "204 No Content", "301 Moved Permanently"):
        async with serving(member, http_answer(status)):
            assert await probe(member, check("http", uri="/healthz"), source=source) is False


async def test_http_probe_fails_on_a_member_that_is_not_http(member: str, source: str) -> None:
    async def garbage(stream: SocketStream) -> None:
        await stream.send(b"SSH-2.0-OpenSSH_9.6\r\n")
        await stream.aclose()

    async with serving(member, garbage):
        assert await probe(member, check("http"), source=source) is False


async def test_a_probe_gives_up_after_its_timeout(member: str, source: str) -> None:
    async def silent(stream: SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    async with serving(member, silent):
        with anyio.fail_after(30):  # without the probe's own timeout this would hang for ever
            assert await probe(member, check("http", timeout=2), source=source) is False


async def test_https_probe_sends_the_sni_and_accepts_any_certificate(
    member: str, source: str, tmp_path: Path
) -> None:
    # A self-signed certificate for another name: a verifying client would refuse it.
    issued = pki.create(tmp_path, hosts=("not-the-member.example",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.serving_cert, issued.serving_key)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    async with serving(member, http_answer("200 OK"), tls=context):
        ok = await probe(member, check("https", uri="/", tls_sni="website.example"), source=source)
        assert ok is True
        assert names == ["website.example"]
        assert await probe(member, check("https"), source=source) is True
        assert names[1:] == [None]  # no tls-sni, no SNI (the member is an IP address)
        # Plain HTTP against the TLS port fails.
        assert await probe(member, check("http"), source=source) is False


async def test_probes_come_from_the_nlb_address(member: str, source: str) -> None:
    peers: list[str] = []

    async def record(stream: SocketStream) -> None:
        peers.append(str(stream.extra(SocketAttribute.remote_address)[0]))
        await stream.aclose()

    async with serving(member, record):
        assert await probe(member, check(), source=source) is True
    assert peers == [source]


# -- the loopback-only rule ---------------------------------------------------------------------


async def test_nothing_is_sent_outside_loopback(
    source: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[tuple[object, ...]] = []

    async def recording_connect(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(anyio, "connect_tcp", recording_connect)
    caplog.set_level(logging.WARNING, logger="exoccm.sim.dataplane")
    for outside in ("192.0.2.10", "10.0.0.1", "::1", "localhost"):
        with pytest.raises(RefusedDestinationError):
            await connect(outside, 80, source=source, purpose="traffic")
        assert await probe(outside, check("http"), source=source) is False
    assert attempts == []
    refusals = [r.getMessage() for r in caplog.records if "refusing" in r.getMessage()]
    assert len(refusals) == 8
    assert "refusing to connect to 192.0.2.10:80 for traffic" in refusals[0]
    assert "refusing to connect to 192.0.2.10:30999 for a http health check" in refusals[1]
