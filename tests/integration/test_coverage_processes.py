"""``nox -s coverage`` measures the processes the tests start: each inherits
COVERAGE_PROCESS_START, coverage.py's .pth hook starts measuring it, and it writes a data file
of its own when it exits. Tests end exoccm and the simulator with SIGTERM; these check that the
data of a process ended so is saved, with the project's coverage settings (pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

import pytest

# Only CoverageData here: creating a Coverage object in a process that coverage.py measures
# automatically (as `nox -s coverage` does this one) stops that process's data from being saved.
from coverage import CoverageData

from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.simprocess import SimProcess

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "exoccm" / "app.py"
CLI = REPO / "exoccm" / "cli.py"


def line_of(path: Path, text: str) -> int:
    """The number of the one line of ``path`` that contains ``text``."""
    [number] = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return number


def data_of(directory: Path, pid: int) -> CoverageData:
    """The data file process ``pid`` wrote (parallel data files are named after their pid)."""
    [path] = [p for p in directory.glob(".coverage.*") if f".pid{pid}." in p.name]
    data = CoverageData(basename=str(path))
    data.read()
    return data


def test_sigtermed_processes_save_their_coverage_data(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "coverage"
    directory.mkdir()
    # Inherited by the processes started below, as in `nox -s coverage`.
    monkeypatch.setenv("COVERAGE_PROCESS_START", str(REPO / "pyproject.toml"))
    monkeypatch.setenv("COVERAGE_FILE", str(directory / ".coverage"))

    sim = SimProcess(tmp_path / "sim").start()
    assert sim.proc is not None
    sim_pid = sim.proc.pid
    try:
        exoccm = ExoccmProcess(
            control_plane.kubeconfig,
            {**sim.env("de-muc-1"), "EXOCCM_LEADER_ELECTION_NAMESPACE": namespace},
            tmp_path / "exoccm.log",
        ).start()
        exoccm_pid = exoccm.pid
        try:
            exoccm.wait_ready()
        finally:
            assert exoccm.stop() == 0, "SIGTERM ends exoccm gracefully"
    finally:
        sim.stop()

    # exoccm handles SIGTERM itself and exits normally: its shutdown was measured too.
    stopped = line_of(APP, 'log.info("exoccm_stopped"')
    assert stopped in (data_of(directory, exoccm_pid).lines(str(APP)) or [])
    # The simulator's server re-raises SIGTERM once it has stopped serving; coverage.py's own
    # handler (`sigterm = true`) saves the data before the process dies of it.
    assert data_of(directory, sim_pid).lines(str(CLI))

    # The simulator is the judge, not the judged: its own modules are not measured.
    measured = {Path(f) for f in data_of(directory, sim_pid).measured_files()}
    assert CLI in measured
    assert not any(REPO / "exoccm" / "sim" in f.parents for f in measured)
