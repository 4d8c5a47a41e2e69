"""Hot reload of the credentials file (``EXOSCALE_API_CREDENTIALS_FILE``).

Kubernetes updates a Secret volume by swapping a ``..data`` symlink in the mount directory, which
a watch on the file itself never sees. So the *directory* is watched and the file re-read on any
event there; a slow periodic re-read backs the watch up. New credentials replace the current ones
in one assignment (requests in flight keep the pair they were signed with). An invalid file keeps
the previous credentials and says why, once, without its content.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import structlog
import watchfiles

from exoccm.exoscale.credentials import (
    Credentials,
    CredentialsFileError,
    CredentialsStore,
    load_credentials_file,
)
from exoccm.exoscale.metrics import CREDENTIALS_RELOADS

log = structlog.get_logger(__name__)


class CredentialsFileWatcher:
    """Keeps ``store`` in step with the credentials file at ``path``.

    ``recheck_interval`` is the period of the backup re-read, ``debounce`` groups the burst of
    events of one Secret update (both in seconds).
    """

    def __init__(
        self,
        path: Path,
        store: CredentialsStore,
        *,
        debounce: float = 0.2,
        recheck_interval: float = 60.0,
    ):
        self.path = path
        self.store = store
        self.debounce = debounce
        self.recheck_interval = recheck_interval
        self.ready = anyio.Event()
        """Set once the directory watch is in place (tests wait for it before changing files)."""
        self.last_problem: str | None = None
        """Why the file was last found unusable; ``None`` once it is valid again."""

    def reload(self) -> bool:
        """Re-read the file now; return whether the credentials changed."""
        return self._apply(self._read())

    def _read(self) -> Credentials | CredentialsFileError:
        try:
            return load_credentials_file(self.path)
        except CredentialsFileError as exc:
            return exc

    def _apply(self, result: Credentials | CredentialsFileError) -> bool:
        if isinstance(result, CredentialsFileError):
            CREDENTIALS_RELOADS.labels("invalid").inc()
            if result.message != self.last_problem:
                log.warning(
                    "Failed to reload Exoscale credentials",
                    path=str(self.path),
                    error=result.message,
                    action="still using the previous credentials",
                )
            self.last_problem = result.message
            return False
        self.last_problem = None
        if not self.store.replace(result):
            CREDENTIALS_RELOADS.labels("unchanged").inc()
            return False
        CREDENTIALS_RELOADS.labels("changed").inc()
        log.info(
            "Reloaded Exoscale credentials",
            path=str(self.path),
            name=result.name,
            key=result.masked_key,
        )
        return True

    async def run(self) -> None:
        """Watch until cancelled. Run it in the application's task group."""
        directory = self.path.parent
        log.info("Watching the Exoscale credentials file", directory=str(directory))
        # The watch blocks in a thread for up to the recheck interval; a cancelled task would
        # wait for it (a minute, longer than a Pod's grace period) unless told to stop.
        stop = anyio.Event()

        async def stop_when_cancelled() -> None:
            try:
                await anyio.sleep_forever()
            finally:
                stop.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_when_cancelled)
            async for _changes in watchfiles.awatch(
                directory,
                watch_filter=None,
                debounce=max(1, int(self.debounce * 1000)),
                rust_timeout=max(1, int(self.recheck_interval * 1000)),
                yield_on_timeout=True,
                recursive=False,
                stop_event=stop,
            ):
                # Every yield, event or timeout, means the watch is established.
                self.ready.set()
                # File I/O off the event loop.
                self._apply(await anyio.to_thread.run_sync(self._read))
            tg.cancel_scope.cancel()

    def __repr__(self) -> str:
        return f"CredentialsFileWatcher(path={str(self.path)!r})"
