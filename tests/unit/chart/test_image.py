"""Static checks of the Dockerfile and .dockerignore (no Docker engine here; hadolint runs in
``nox -s lint``)."""

from __future__ import annotations

import json
import re

import yaml

from exoccm.config.settings import Settings
from tests.unit.chart.helm import CHART, REPO

Instruction = tuple[str, str]


def instructions() -> list[Instruction]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending
    result = []
    for text in logical:
        word, _, rest = text.partition(" ")
        result.append((word.upper(), " ".join(rest.split())))
    return result


def stages() -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def test_two_stages_on_the_same_python_base() -> None:
    args = dict(arg.split("=", 1) for word, arg in instructions() if word == "ARG" and "=" in arg)
    assert args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    builder, final = stages()
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert final[0] == ("FROM", "${PYTHON_IMAGE}")


def test_builder_installs_the_pinned_uv_and_syncs_production_dependencies_only() -> None:
    builder, _ = stages()
    runs = [arg for word, arg in builder if word == "RUN"]
    (pip,) = [run for run in runs if "pip install" in run]
    assert "--constraint /tmp/bootstrap-requirements.txt uv" in pip
    pinned = (REPO / "tools" / "bootstrap-requirements.txt").read_text()
    assert re.search(r"^uv==\d+\.\d+\.\d+$", pinned, flags=re.MULTILINE)
    syncs = [run for run in runs if "uv sync" in run]
    assert len(syncs) == 2
    for sync in syncs:
        for flag in ("--locked", "--no-dev", "--no-default-groups", "--no-editable"):
            assert flag in sync
        assert "--extra" not in sync
        assert "--all-extras" not in sync
        assert "--group" not in sync
    env = " ".join(arg for word, arg in builder if word == "ENV")
    assert "UV_PROJECT_ENVIRONMENT=/app/.venv" in env
    assert "UV_COMPILE_BYTECODE=1" in env


def test_final_stage_copies_only_the_virtualenv_and_runs_as_65532() -> None:
    _, final = stages()
    copies = [arg for word, arg in final if word in ("COPY", "ADD")]
    assert copies == ["--from=builder /app/.venv /app/.venv"]
    assert ("USER", "65532:65532") in final
    assert not any(word == "RUN" and "uv" in arg.split() for word, arg in final)
    env = " ".join(arg for word, arg in final if word == "ENV")
    assert "PYTHONUNBUFFERED=1" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    entrypoint = next(arg for word, arg in final if word == "ENTRYPOINT")
    assert json.loads(entrypoint) == ["/app/.venv/bin/exoccm"]
    cmd = next(arg for word, arg in final if word == "CMD")
    assert json.loads(cmd) == ["run"]
    labels = " ".join(arg for word, arg in final if word == "LABEL")
    for label in ("title", "description", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{label}=" in labels


def test_exposed_port_matches_the_chart_and_the_settings() -> None:
    _, final = stages()
    exposed = [arg for word, arg in final if word == "EXPOSE"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    default_port = Settings.model_fields["metrics_port"].default
    assert exposed == [str(default_port)]
    assert values["metrics"]["port"] == default_port


def test_dockerignore_admits_only_what_the_build_uses() -> None:
    lines = [
        line
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert admitted == {
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "LICENSE",
        "tools/bootstrap-requirements.txt",
        "exoccm",
    }
    for path in admitted:
        assert (REPO / path).exists(), path
    # Everything the builder copies or bind-mounts from the context is admitted.
    builder, _ = stages()
    used: set[str] = set()
    for word, arg in builder:
        if word == "COPY" and not arg.startswith("--from"):
            used |= set(arg.split()[:-1])
        used |= set(re.findall(r"type=bind,source=([^,\s]+)", arg))
    assert used, "no build context use found"
    assert used <= admitted, used - admitted
    assert "**/__pycache__" in lines
