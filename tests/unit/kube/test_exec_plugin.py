"""The kubeconfig exec credential plugin runs as a subprocess without blocking the event loop,
within a time limit, and every way it can fail is reported clearly."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from exoccm.kube.config import (
    EXEC_TOKEN_EXPIRY_MARGIN,
    ExecPlugin,
    KubeConfigError,
    run_exec_plugin,
)

pytestmark = pytest.mark.anyio

STANDIN = Path(__file__).with_name("exec_plugin_standin.py")
TOKEN = "standin-token-0123456789"


def standin(mode: str, state: Path, **env: str) -> ExecPlugin:
    return ExecPlugin(
        command=sys.executable,
        args=(str(STANDIN), mode, str(state)),
        env=tuple({"STANDIN_TOKEN": TOKEN, **env}.items()),
    )


def runs(state: Path) -> list[int]:
    path = state / "runs"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


async def test_the_token_and_its_expiry_are_read(tmp_path: Path) -> None:
    expiry = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = time.monotonic()
    credential = await run_exec_plugin(standin("token", tmp_path, STANDIN_EXPIRY=expiry))
    assert credential.token == TOKEN
    assert TOKEN not in repr(credential)
    assert credential.expires_at is not None
    # Renewed a margin before the announced expiry (one hour, to the second).
    remaining = credential.expires_at - before
    assert 3600 - EXEC_TOKEN_EXPIRY_MARGIN - 5 < remaining <= 3600 - EXEC_TOKEN_EXPIRY_MARGIN + 1
    info = json.loads((tmp_path / "exec-info").read_text())
    assert info["kind"] == "ExecCredential"
    assert info["spec"] == {"interactive": False}


async def test_a_token_without_expiry_never_expires(tmp_path: Path) -> None:
    credential = await run_exec_plugin(standin("token", tmp_path))
    assert credential.expires_at is None


async def test_the_event_loop_keeps_running_while_the_plugin_works(tmp_path: Path) -> None:
    # The plugin answers only after this process has created a file, which a task of this
    # event loop does while the plugin runs: a blocking run would wait for the plugin, which
    # would wait for the file, and the plugin would give up with an error after 30 s.
    async def let_the_plugin_go() -> None:
        while not runs(tmp_path):  # noqa: ASYNC110 - another process writes it
            await anyio.sleep(0.01)
        (tmp_path / "go").write_text("")

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(let_the_plugin_go)
            credential = await run_exec_plugin(standin("wait-for-file", tmp_path))
    assert credential.token == TOKEN


async def test_a_hung_plugin_is_stopped_at_the_time_limit(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError) as caught:
        await run_exec_plugin(standin("hang", tmp_path), timeout=0.5)
    assert "did not finish within 0.5 s and was stopped" in str(caught.value)
    assert sys.executable in str(caught.value)
    (pid,) = runs(tmp_path)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_missing_plugin_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "kubelogin")
    with pytest.raises(KubeConfigError) as caught:
        await run_exec_plugin(ExecPlugin(command=missing))
    message = str(caught.value)
    assert f"exec plugin {missing!r} could not be started (No such file or directory)" in message
    assert "users[].user.exec.command" in message


async def test_a_failing_plugin_reports_its_status_and_last_words(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError) as caught:
        await run_exec_plugin(standin("fail", tmp_path))
    assert str(caught.value).endswith(
        "exited with status 3: error: you must be logged in to the server"
    )


async def test_output_that_is_not_an_exec_credential_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="did not print an ExecCredential"):
        await run_exec_plugin(standin("garbage", tmp_path))


async def test_an_unreadable_expiry_is_refused_without_the_token(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="not an RFC 3339 time: 'next tuesday'") as caught:
        await run_exec_plugin(standin("token", tmp_path, STANDIN_EXPIRY="next tuesday"))
    assert TOKEN not in str(caught.value)
