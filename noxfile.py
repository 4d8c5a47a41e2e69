"""Developer tasks. ``./dev`` bootstraps uv and nox; ``nox -l`` lists the sessions."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.error_on_missing_interpreters = False

PYTHON = "3.11"


def _sync(session: nox.Session, *groups: str, extras: tuple[str, ...] = ()) -> None:
    """Install the locked dependencies of ``groups`` (and the project) into the session's venv."""
    args = ["uv", "sync", "--locked", "--no-default-groups", "--inexact"]
    for group in groups:
        args += ["--group", group]
    for extra in extras:
        args += ["--extra", extra]
    session.run_install(*args, env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location})


def _kube_assets(session: nox.Session, *, full: bool = False) -> str:
    """Build (once, cached) or find kube-apiserver, etcd and helm, with ``full`` also
    kube-controller-manager, kube-scheduler, kubectl and KWOK; return their directory."""
    # Progress goes to stderr (shown live); the directory is the last line on stdout.
    args = ["python", "-m", "exoccm.testing.binaries", *(["--full"] if full else [])]
    out = session.run(*args, silent=True, stderr=None)
    if not isinstance(out, str) or not out.strip():
        session.error("could not build or find the control-plane binaries")
    return str(out).strip().splitlines()[-1]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite: unit, integration (real kube-apiserver + simulator) and e2e."""
    _sync(session, "test", "docs")
    # A few tests run on the fuller plane: build it here, where progress shows, rather than
    # inside a test's time limit.
    assets = _kube_assets(session, full=True)
    args = session.posargs or ["-q", "tests"]
    session.run("pytest", *args, env={"EXOCCM_KUBE_ASSETS": assets})


@nox.session(python=PYTHON)
def chaos(session: nox.Session) -> None:
    """The fault campaign (docs/reliability.md): 5 minutes of faults, then the end-state checks."""
    _sync(session, "test")
    assets = _kube_assets(session)
    args = session.posargs or ["--duration", "300"]
    session.run("python", "-m", "chaos.campaign", *args, env={"EXOCCM_KUBE_ASSETS": assets})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, hadolint on the Dockerfile, yamllint on the chart."""
    _sync(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("hadolint", "Dockerfile")
    session.run("yamllint", "-s", "-c", "charts/exoccm/.yamllint", "charts/exoccm")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The seed story on a local Kubernetes (with controller manager, scheduler and KWOK), the
    Exoscale simulator with its data plane and exoccm, to the last curl (Ctrl-C ends)."""
    _sync(session, extras=("demo",))
    # The demo runs the fuller control plane and the real kubectl: build them here, with
    # progress, once per machine.
    assets = _kube_assets(session, full=True)
    session.run("exoccm", "demo", *session.posargs, env={"EXOCCM_KUBE_ASSETS": assets})


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the tools."""
    _sync(session, "typecheck", "test")
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Check the generated reference pages, then build the site strictly into site/."""
    _sync(session, "docs")
    session.run("python", "-m", "exoccm.docs_reference", "--check")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python=PYTHON)
def binaries(session: nox.Session) -> None:
    """Build or find the control-plane binaries and print their directory (``-- --full``: also
    the fuller plane's)."""
    _sync(session)
    session.log(_kube_assets(session, full="--full" in session.posargs))


@nox.session(python=PYTHON)
def image(session: nox.Session) -> None:
    """Build the container image (podman, on a local stand-in base), check it, run the example.

    Needs podman, buildah and mmdebstrap (apt); .ci/run installs them. Runs tests/image.
    """
    _sync(session, "test")
    assets = _kube_assets(session)
    # Progress, size and package list go to stderr (shown live); the image ID is the last line.
    out = session.run("python", "-m", "tests.image.build", silent=True, stderr=None)
    if not isinstance(out, str) or not out.strip():
        session.error("the image was not built")
    image_id = str(out).strip().splitlines()[-1]
    args = session.posargs or ["-q", "tests/image"]
    session.run("pytest", *args, env={"EXOCCM_KUBE_ASSETS": assets, "EXOCCM_IMAGE": image_id})


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The benchmarks (bench/run_all.py; about 21 minutes; ``-- --quick`` for a smoke run)."""
    _sync(session, "bench", "test")
    assets = _kube_assets(session)
    session.run("python", "bench/run_all.py", *session.posargs, env={"EXOCCM_KUBE_ASSETS": assets})
