"""Find or build the test control plane's binaries.

Two sets share one cache directory. The bare set, kube-apiserver, etcd and helm, is what most
tests need. The fuller plane adds kube-controller-manager, kube-scheduler and kubectl (from the
same ``k8s.io/kubernetes`` release as kube-apiserver) and KWOK, the kubelet stand-in; they are
built on demand, the first time something asks for them.

The binaries come from the Go module proxy through the wrapper modules in ``tools/k8s``,
``tools/helm`` and ``tools/kwok`` and are cached per user, keyed by the pinned versions and a hash
of the wrapper modules, so a cold build (minutes) happens once per machine. ``KUBEBUILDER_ASSETS``
or ``EXOCCM_KUBE_ASSETS`` pointing at a directory holding kube-apiserver and etcd skips their
build; whatever else is asked for and missing there is taken from the cache.

Run ``python -m exoccm.testing.binaries`` to build the bare set (``--full`` for everything) with
progress output and print the directory.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.37.2"
HELM_VERSION = "v4.3.1"
KWOK_VERSION = "v0.8.0"
BINARIES = ("kube-apiserver", "etcd", "helm")
FULL_PLANE = (*BINARIES, "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
WRAPPER_MODULES = ("k8s", "helm", "kwok")
ENV_DIRS = ("EXOCCM_KUBE_ASSETS", "KUBEBUILDER_ASSETS")

Progress = Callable[[str], None]


class BinariesError(RuntimeError):
    """The control-plane binaries could not be found or built."""


@dataclass(frozen=True)
class Assets:
    """Where the control-plane binaries live."""

    directory: Path

    @property
    def kube_apiserver(self) -> Path:
        return self.directory / "kube-apiserver"

    @property
    def etcd(self) -> Path:
        return self.directory / "etcd"

    @property
    def helm(self) -> Path:
        return self.directory / "helm"

    @property
    def kube_controller_manager(self) -> Path:
        return self.directory / "kube-controller-manager"

    @property
    def kube_scheduler(self) -> Path:
        return self.directory / "kube-scheduler"

    @property
    def kubectl(self) -> Path:
        return self.directory / "kubectl"

    @property
    def kwok(self) -> Path:
        return self.directory / "kwok"


@dataclass(frozen=True)
class _Target:
    name: str
    module_dir: str
    package: str
    ldflags: str
    version_args: tuple[str, ...] = ()
    expected_version: str = ""


def _kube_ldflags() -> str:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={KUBERNETES_VERSION}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _kubernetes(name: str, version_args: tuple[str, ...] = ("--version",)) -> _Target:
    return _Target(
        name,
        "k8s",
        f"k8s.io/kubernetes/cmd/{name}",
        _kube_ldflags(),
        version_args,
        KUBERNETES_VERSION,
    )


TARGETS = (
    _Target("etcd", "k8s", "go.etcd.io/etcd/server/v3", "-s -w"),
    _kubernetes("kube-apiserver"),
    _Target(
        "helm",
        "helm",
        "helm.sh/helm/v4/cmd/helm",
        f"-s -w -X helm.sh/helm/v4/internal/version.version={HELM_VERSION}"
        " -X helm.sh/helm/v4/internal/version.gitTreeState=clean",
    ),
    _kubernetes("kube-controller-manager"),
    _kubernetes("kube-scheduler"),
    _kubernetes("kubectl", ("version", "--client")),
    _Target(
        "kwok",
        "kwok",
        "sigs.k8s.io/kwok/cmd/kwok",
        "-s -w",
        ("--version",),
        KWOK_VERSION.lstrip("v"),
    ),
)


def tools_dir() -> Path:
    """The repository's ``tools/`` directory (the wrapper Go modules live there)."""
    candidates = [Path(__file__).resolve().parents[2], Path.cwd(), *Path.cwd().parents]
    for root in candidates:
        if (root / "tools" / "k8s" / "go.mod").is_file():
            return root / "tools"
    raise BinariesError(
        "cannot find tools/k8s/go.mod: building the control plane needs an exoccm source "
        "checkout; run from the repository, or set EXOCCM_KUBE_ASSETS to a directory holding "
        f"{', '.join(BINARIES)}"
    )


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "exoccm" / "kube-assets"


def cache_key(tools: Path) -> str:
    """Versions plus a hash of the wrapper modules: a changed pin never reuses stale binaries."""
    digest = hashlib.sha256()
    for module in WRAPPER_MODULES:
        for name in ("go.mod", "go.sum"):
            path = tools / module / name
            if path.is_file():
                digest.update(path.read_bytes())
    versions = f"{KUBERNETES_VERSION}-helm{HELM_VERSION}-kwok{KWOK_VERSION}"
    return f"{versions}-{digest.hexdigest()[:12]}"


def _complete(directory: Path, names: tuple[str, ...] = BINARIES) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in names)


def from_environment() -> Assets | None:
    """Assets named by ``EXOCCM_KUBE_ASSETS`` / ``KUBEBUILDER_ASSETS``, if they hold the binaries.

    envtest's asset directories hold kube-apiserver and etcd but no helm; helm is then taken
    from the cache (built if needed) by :func:`ensure`.
    """
    for var in ENV_DIRS:
        value = os.environ.get(var)
        if value and _complete(Path(value), ("kube-apiserver", "etcd")):
            return Assets(Path(value))
    return None


def _print(message: str) -> None:
    print(f"[exoccm binaries] {message}", file=sys.stderr, flush=True)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOTOOLCHAIN="local", GOWORK="off", CGO_ENABLED="0", GOFLAGS="-mod=mod")
    env.pop("GOOS", None)
    env.pop("GOARCH", None)
    return env


def _build_one(target: _Target, tools: Path, out: Path, progress: Progress) -> None:
    go = shutil.which("go")
    if go is None:
        raise BinariesError(
            "the Go toolchain is needed to build the test control plane (go not found on PATH); "
            "install Go >= 1.26 or set EXOCCM_KUBE_ASSETS to prebuilt binaries"
        )
    module = tools / target.module_dir
    env = _go_env()
    started = time.monotonic()
    progress(f"{target.name}: downloading modules (go mod download)")
    download = subprocess.run(
        [go, "mod", "download"], cwd=module, env=env, capture_output=True, text=True, check=False
    )
    if download.returncode != 0:
        raise BinariesError(
            f"go mod download failed for {target.name} in {module}:\n{download.stderr[-4000:]}"
        )
    progress(f"{target.name}: compiling {target.package} (a cold build takes minutes)")
    command = [
        go,
        "build",
        "-v",
        "-trimpath",
        "-tags",
        "selinux,notest,grpcnotrace",
        "-ldflags",
        target.ldflags,
        "-o",
        str(out / target.name),
        target.package,
    ]
    proc = subprocess.Popen(
        command, cwd=module, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    tail: list[str] = []
    last_report = time.monotonic()
    for compiled, line in enumerate(proc.stdout, start=1):
        tail = [*tail[-40:], line.rstrip()]
        now = time.monotonic()
        if now - last_report >= 20:
            progress(f"{target.name}: {compiled} packages compiled, {now - started:.0f}s elapsed")
            last_report = now
    if proc.wait() != 0:
        raise BinariesError(
            f"go build of {target.name} failed (exit {proc.returncode}):\n" + "\n".join(tail)
        )
    progress(f"{target.name}: built in {time.monotonic() - started:.0f}s")


def build(
    tools: Path, destination: Path, names: tuple[str, ...] = BINARIES, progress: Progress = _print
) -> None:
    """Build the named binaries into ``destination``; each appears only once fully built."""
    destination.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    for target in TARGETS:
        if target.name not in names or _complete(destination, (target.name,)):
            continue
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=destination))
        try:
            _build_one(target, tools, staging, progress)
            _check_version(target, staging / target.name)
            (staging / target.name).rename(destination / target.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    progress(f"binaries ready in {destination} ({time.monotonic() - started:.0f}s)")


def _check_version(target: _Target, binary: Path) -> None:
    """A binary built without the version ldflags reports v0.0.0-master: refuse it."""
    if not target.version_args:
        return
    result = subprocess.run(
        [str(binary), *target.version_args], capture_output=True, text=True, check=False
    )
    version = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or target.expected_version not in version:
        raise BinariesError(
            f"{target.name} reports {version!r} (exit {result.returncode}), "
            f"expected {target.expected_version}"
        )


def _describe(names: tuple[str, ...]) -> str:
    pins = [f"Kubernetes {KUBERNETES_VERSION}"]
    if "helm" in names:
        pins.append(f"helm {HELM_VERSION}")
    if "kwok" in names:
        pins.append(f"KWOK {KWOK_VERSION}")
    return f"{', '.join(names)} ({', '.join(pins)})"


def ensure(progress: Progress = _print, needs: tuple[str, ...] = BINARIES) -> Assets:
    """Usable binaries (at least ``needs``): from the environment, the cache, or a build.

    Binaries that an ``EXOCCM_KUBE_ASSETS`` / ``KUBEBUILDER_ASSETS`` directory lacks (helm for an
    envtest directory, the fuller plane's binaries) are built into the cache, and the result is a
    directory of links combining both.
    """
    unknown = sorted(set(needs) - set(FULL_PLANE))
    if unknown:
        raise BinariesError(f"unknown binaries {unknown}; known: {', '.join(FULL_PLANE)}")
    found = from_environment()
    if found is not None and _complete(found.directory, needs):
        return found
    tools = tools_dir()
    cached = cache_root() / cache_key(tools)
    wanted = tuple(
        name for name in needs if found is None or not _complete(found.directory, (name,))
    )
    if not _complete(cached, wanted):
        progress(
            f"building {_describe(wanted)} from the Go module proxy into {cached}; "
            "this happens once per machine"
        )
        build(tools, cached, wanted, progress)
    if found is None or found.directory.resolve() == cached.resolve():
        return Assets(cached)
    tag = hashlib.sha256(f"{found.directory}\0{cached}".encode()).hexdigest()[:12]
    merged = cache_root() / f"combined-{tag}"
    merged.mkdir(parents=True, exist_ok=True)
    for name in FULL_PLANE:
        source = found.directory / name
        if not _complete(found.directory, (name,)):
            source = cached / name
        link = merged / name
        link.unlink(missing_ok=True)
        if _complete(source.parent, (name,)):
            link.symlink_to(source)
    return Assets(merged)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exoccm.testing.binaries",
        description="Build or find the test control plane's binaries and print their directory.",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="also kube-controller-manager, kube-scheduler, kubectl and KWOK (the fuller plane)",
    )
    args = parser.parse_args(argv)
    try:
        assets = ensure(needs=FULL_PLANE if args.full else BINARIES)
    except BinariesError as exc:
        _print(f"error: {exc}")
        return 1
    print(assets.directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
