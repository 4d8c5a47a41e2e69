from __future__ import annotations

import asyncio
import io
import logging

import httpx
import orjson
import pytest
import structlog
from prometheus_client import Counter

from exoccm.observability import logging as exolog
from exoccm.observability.server import HealthChecks, HttpServer

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _reset_logging() -> object:
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def test_json_log_lines_have_kubernetes_keys_and_no_secrets() -> None:
    stream = io.StringIO()
    exolog.configure("info", "json", stream)
    structlog.get_logger("t").info(
        "reconciled", service="ns/web", api_secret="hunter2", token="t0k"
    )
    logging.getLogger("stdlib").warning("plain %s", "message")
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["msg"] == "reconciled"
    assert lines[0]["level"] == "info"
    assert isinstance(lines[0]["ts"], float)
    assert lines[0]["service"] == "ns/web"
    assert "hunter2" not in stream.getvalue()
    assert "t0k" not in stream.getvalue()
    assert lines[1]["msg"] == "plain message"
    assert lines[1]["level"] == "warning"


def test_levels_filter_and_bad_level_is_named() -> None:
    stream = io.StringIO()
    exolog.configure("warning", "text", stream)
    structlog.get_logger("t").info("hidden")
    structlog.get_logger("t").warning("shown")
    assert "hidden" not in stream.getvalue()
    assert "shown" in stream.getvalue()
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        exolog.configure("loud")


async def test_health_ready_and_metrics_endpoints() -> None:
    checks = HealthChecks()
    problem: list[str] = []
    checks.liveness["loop"] = lambda: None
    checks.readiness["informers"] = lambda: problem[0] if problem else None
    Counter("exoccm_test_probe_total", "a counter for this test").inc()
    server = HttpServer(checks, "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert "[+]informers ok" in ready.text
            problem.append("nodes not synced")
            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503
            assert "[-]informers failed: nodes not synced" in not_ready.text
            metrics = await client.get("/metrics")
            assert "exoccm_test_probe_total 1.0" in metrics.text
    finally:
        await server.stop()


async def test_the_server_answers_probes_and_scrapers_only() -> None:
    server = HttpServer(HealthChecks(), "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            head = await client.head("/readyz")
            assert head.status_code == 200
            assert head.content == b""
            assert int(head.headers["content-length"]) > 0, "HEAD tells the length of a GET"
            assert (await client.get("/livez?verbose")).status_code == 200
            assert (await client.get("/nope")).status_code == 404
            post = await client.post("/healthz", content=b"x")
            assert post.status_code == 405
            assert post.headers["allow"] == "GET, HEAD"
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"nonsense\r\n\r\n")
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        # A connection that never finishes its request is still closed when the server stops.
        _, idle = await asyncio.open_connection("127.0.0.1", server.port)
    finally:
        await server.stop()
    idle.close()
    await idle.wait_closed()


def test_a_raising_check_fails_instead_of_crashing() -> None:
    checks = HealthChecks(liveness={"boom": lambda: str(1 / 0)})
    ok, text = checks.live()
    assert not ok
    assert "ZeroDivisionError" in text
