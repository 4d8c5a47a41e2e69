"""Looking into and running the exoccm image with podman and buildah, without a container engine.

``podman run`` cannot start containers on every build machine (crun may be refused
``setrlimit``), but ``buildah run --isolation chroot`` can: it runs a command in a working
container's root filesystem with the host's network, as the given user, with the image's
environment. :class:`WorkingContainer` wraps one such container; :meth:`WorkingContainer.start`
runs a long-lived process in it, like a Pod's container, and :class:`ContainerProcess` sends
that process (not buildah, which would kill it) the kubelet's SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

from exoccm.testing.controlplane import _die_with_parent


class ContainerError(RuntimeError):
    """podman or buildah failed; the message holds their output."""


@dataclass(frozen=True)
class ImageInfo:
    """What ``podman image inspect`` says about an image."""

    id: str
    size: int  # bytes, all layers uncompressed (what ``podman images`` shows)
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    user: str
    env: Mapping[str, str]
    labels: Mapping[str, str]
    history: tuple[str, ...]  # the instructions that made each layer ("created by")

    @classmethod
    def of(cls, image: str) -> ImageInfo:
        result = subprocess.run(
            ["podman", "image", "inspect", image], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ContainerError(f"podman image inspect {image}: {result.stderr.strip()}")
        (data,) = json.loads(result.stdout)
        config: dict[str, Any] = data.get("Config") or {}
        env = dict(entry.split("=", 1) for entry in config.get("Env") or [])
        return cls(
            id=str(data["Id"]),
            size=int(data["Size"]),
            entrypoint=tuple(config.get("Entrypoint") or ()),
            cmd=tuple(config.get("Cmd") or ()),
            user=str(config.get("User") or ""),
            env=env,
            labels=dict(config.get("Labels") or {}),
            history=tuple(str(h.get("created_by", "")) for h in data.get("History") or []),
        )


@dataclass(frozen=True)
class Volume:
    """A host directory bind-mounted into the container."""

    source: Path
    target: str
    read_only: bool = True

    def arg(self, target: str) -> str:
        return f"{self.source}:{target}:{'ro' if self.read_only else 'rw'}"


def resolve_in(rootfs: Path, path: str) -> str:
    """``path`` inside the container with its symlinks followed, as a runtime mounts it.

    buildah mounts onto the literal path, and a bind mount below a symlink (Debian's
    ``/var/run -> /run``) would be hidden behind the symlink.
    """
    resolved = PurePosixPath("/")
    pending = list(PurePosixPath(path).parts[1:])
    for _ in range(64):  # bounds symlink loops
        if not pending:
            return str(resolved)
        part = pending.pop(0)
        candidate = resolved / part
        host = rootfs / str(candidate).lstrip("/")
        if host.is_symlink():
            link = PurePosixPath(os.readlink(host))
            base = PurePosixPath("/") if link.is_absolute() else resolved
            pending = [*link.parts[1 if link.is_absolute() else 0 :], *pending]
            resolved = base
        elif part == "..":
            resolved = resolved.parent
        else:
            resolved = candidate
    raise ContainerError(f"too many symbolic links in {path}")


def _buildah(*args: str) -> str:
    result = subprocess.run(["buildah", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ContainerError(f"buildah {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


@dataclass
class WorkingContainer:
    """A buildah working container of ``image``, removed on exit."""

    image: str
    name: str = field(default_factory=lambda: f"exoccm-image-test-{uuid.uuid4().hex[:8]}")
    _rootfs: Path | None = None

    def __enter__(self) -> WorkingContainer:
        _buildah("from", "--pull-never", "--quiet", "--name", self.name, self.image)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._rootfs is not None:
            _buildah("umount", self.name)
        _buildah("rm", self.name)

    def rootfs(self) -> Path:
        """The container's root filesystem, mounted on the host (read it, do not change it)."""
        if self._rootfs is None:
            self._rootfs = Path(_buildah("mount", self.name))
        return self._rootfs

    def _run_args(
        self,
        argv: Sequence[str],
        user: str,
        env: Mapping[str, str],
        volumes: Iterable[Volume],
        hostname: str | None = None,
    ) -> list[str]:
        args = ["buildah", "run", "--isolation", "chroot", "--user", user]
        if hostname:
            args += ["--hostname", hostname]
        for name, value in env.items():
            args += ["--env", f"{name}={value}"]
        for volume in volumes:
            args += ["--volume", volume.arg(resolve_in(self.rootfs(), volume.target))]
        return [*args, self.name, "--", *argv]

    def run(
        self,
        argv: Sequence[str],
        *,
        user: str,
        env: Mapping[str, str] | None = None,
        volumes: Iterable[Volume] = (),
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` to completion; its exit code, stdout and stderr."""
        return subprocess.run(
            self._run_args(argv, user, env or {}, volumes),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(
        self,
        argv: Sequence[str],
        *,
        user: str,
        log: Path,
        env: Mapping[str, str] | None = None,
        volumes: Iterable[Volume] = (),
        hostname: str | None = None,
    ) -> ContainerProcess:
        """Start ``argv`` in the background, its output going to ``log``."""
        with log.open("ab") as handle:
            proc = subprocess.Popen(
                self._run_args(argv, user, env or {}, volumes, hostname),
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads involved
            )
        return ContainerProcess(proc, uid=int(user.split(":", maxsplit=1)[0]), log=log)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _descendants(pid: int) -> list[int]:
    pending, found = [pid], []
    while pending:
        children = _children(pending.pop())
        found += children
        pending += children
    return found


def _owner(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _argv0(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return ""


@dataclass
class ContainerProcess:
    """A process started by :meth:`WorkingContainer.start` (``buildah run`` and its tree)."""

    proc: subprocess.Popen[bytes]
    uid: int
    log: Path

    def running(self) -> bool:
        return self.proc.poll() is None

    def main_pid(self) -> int | None:
        """The container's own process: owned by its user, not one of buildah's helpers."""
        pids = [
            pid
            for pid in _descendants(self.proc.pid)
            if _owner(pid) == self.uid and not Path(_argv0(pid)).name.startswith("buildah")
        ]
        if len(pids) > 1:
            raise ContainerError(f"several processes of uid {self.uid} in the container: {pids}")
        return pids[0] if pids else None

    def terminate(self) -> None:
        """SIGTERM to the container's process, as the kubelet's runtime sends it."""
        pid = self.main_pid()
        if pid is None:
            raise ContainerError("the container's process is not running")
        os.kill(pid, signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        """The exit code (``buildah run`` exits with the container process's code)."""
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """End the whole tree now (cleanup after a failed test)."""
        if self.running():
            pid = self.main_pid()
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(10)
