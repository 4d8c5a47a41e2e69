"""Developer tasks. ``./dev`` bootstraps uv and nox; ``nox -l`` lists the sessions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import nox
from nox.command import CommandFailed

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


COVERAGE_DIR = Path(__file__).resolve().parent / "build" / "coverage"
# The acceptance floor for exoccm/controllers (statements and branches), checked on whole runs.
CONTROLLERS_FLOOR = 85.0


@nox.session(python=PYTHON)
def coverage(session: nox.Session) -> None:
    """Branch coverage of exoccm over the whole test suite, its subprocesses included.

    pytest runs under ``coverage run``; every Python process the tests start (``exoccm run``,
    ``exoccm sim``, the CLI) inherits COVERAGE_PROCESS_START, so coverage.py's .pth hook measures
    it into a data file of its own; ``coverage combine`` merges them. Prints the combined figure
    and a table per package (also after failed tests), and writes build/coverage/html/ and
    build/coverage/coverage.json. ``-- <pytest args>`` measures a part of the suite; only a
    whole run is held to the exoccm/controllers floor.
    """
    _sync(session, "test", "docs")
    assets = _kube_assets(session, full=True)
    shutil.rmtree(COVERAGE_DIR, ignore_errors=True)
    (COVERAGE_DIR / "data").mkdir(parents=True)
    data = {"COVERAGE_FILE": str(COVERAGE_DIR / "data" / ".coverage")}
    start = str(Path(__file__).resolve().parent / "pyproject.toml")
    # Hypothesis' built-in "ci" profile: no per-example deadline (tracing slows every example
    # down; timing is for benchmarks) and derandomized examples, so the figure repeats.
    args = ["--hypothesis-profile=ci", *(session.posargs or ["-q", "tests"])]
    failed = None
    try:
        # `coverage run` for pytest itself: a test that creates a Coverage object (coverage.py
        # does that to turn automatic measurement off) cannot then stop its data being saved.
        session.run(
            "coverage",
            "run",
            "-m",
            "pytest",
            *args,
            env={"EXOCCM_KUBE_ASSETS": assets, "COVERAGE_PROCESS_START": start, **data},
        )
    except CommandFailed as exc:
        failed = exc  # the figure is still worth seeing: it shows what the run reached
    session.run("coverage", "combine", "--quiet", env=data)
    session.run("coverage", "html", "--quiet", "-d", str(COVERAGE_DIR / "html"), env=data)
    report = COVERAGE_DIR / "coverage.json"
    session.run("coverage", "json", "--quiet", "-o", str(report), env=data)
    files = json.loads(report.read_text())["files"]
    rows = _coverage_by_package(files)
    print(_coverage_table(rows))
    print(
        f"Combined branch coverage of exoccm: {_percent(rows['exoccm']):.1f}% "
        f"(exoccm/controllers: {_percent(rows['exoccm/controllers']):.1f}%)"
    )
    session.log(f"HTML report: {COVERAGE_DIR / 'html' / 'index.html'}; JSON: {report}")
    if failed is not None:
        session.error(f"the tests failed ({failed.reason}): the figure is of a partial run")
    controllers = rows["exoccm/controllers"]
    if not session.posargs and _percent(controllers) < CONTROLLERS_FLOOR:
        session.error(
            f"exoccm/controllers is at {_percent(controllers):.1f}%, below the "
            f"{CONTROLLERS_FLOOR:g}% floor: add tests for the lines build/coverage/html shows missed"
        )


def _coverage_by_package(files: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Statement and branch counts summed per package, each package with its subpackages."""
    rows: dict[str, dict[str, int]] = {}
    for path, entry in files.items():
        summary = entry["summary"]
        parts = Path(path).parent.parts
        for depth in range(1, len(parts) + 1):
            row = rows.setdefault("/".join(parts[:depth]), dict.fromkeys(_COUNTS, 0))
            for key in _COUNTS:
                row[key] += int(summary[key])
    return dict(sorted(rows.items()))


_COUNTS = ("num_statements", "covered_lines", "num_branches", "covered_branches")


def _percent(row: dict[str, int]) -> float:
    """coverage.py's figure: covered statements and branches over all of them."""
    total = row["num_statements"] + row["num_branches"]
    return 100.0 * (row["covered_lines"] + row["covered_branches"]) / total if total else 100.0


def _coverage_table(rows: dict[str, dict[str, int]]) -> str:
    lines = [f"{'package':<30} {'stmts':>6} {'miss':>6} {'branch':>6} {'brmiss':>6} {'cover':>7}"]
    for name, row in rows.items():
        indent = "  " * (name.count("/"))
        lines.append(
            f"{indent + name:<30} {row['num_statements']:>6} "
            f"{row['num_statements'] - row['covered_lines']:>6} {row['num_branches']:>6} "
            f"{row['num_branches'] - row['covered_branches']:>6} {_percent(row):>6.1f}%"
        )
    return "\n".join(lines)


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
    """The benchmarks (bench/run_all.py; about 55 minutes; ``-- --quick`` for a smoke run)."""
    _sync(session, "bench", "test")
    assets = _kube_assets(session)
    session.run("python", "bench/run_all.py", *session.posargs, env={"EXOCCM_KUBE_ASSETS": assets})
