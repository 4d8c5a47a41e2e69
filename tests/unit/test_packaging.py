"""One version, one license, the Python versions CI runs: the package metadata, the command, the
chart and the image agree."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import metadata
from pathlib import Path

import yaml

import exoccm

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _dockerfile_arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    assert match, f"no ARG {name}=... default in the Dockerfile"
    return match.group(1)


def test_the_package_version_is_the_one_everything_carries() -> None:
    version = PROJECT["version"]
    assert exoccm.__version__ == version
    chart = yaml.safe_load((REPO / "charts" / "exoccm" / "Chart.yaml").read_text())
    assert chart["appVersion"] == version
    # The image's version label: release builds pass VERSION; its default is the same version.
    assert _dockerfile_arg("VERSION") == version
    assert f"version={version}" in (REPO / "README.md").read_text()


def _cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "exoccm", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_dash_dash_version_prints_what_the_version_command_prints() -> None:
    printed = _cli("--version")
    assert printed == _cli("version")
    assert printed == f"exoccm {PROJECT['version']}\n"


def test_the_license_is_apache_2_everywhere() -> None:
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert metadata("exoccm")["License-Expression"] == "Apache-2.0"
    chart = yaml.safe_load((REPO / "charts" / "exoccm" / "Chart.yaml").read_text())
    assert chart["annotations"]["artifacthub.io/license"] == "Apache-2.0"
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in (REPO / "Dockerfile").read_text()


def _nox_python() -> str:
    tree = ast.parse((REPO / "noxfile.py").read_text())
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["PYTHON"]
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    raise AssertionError("noxfile.py has no PYTHON = '3.x'")


def test_python_classifiers_name_the_versions_ci_runs() -> None:
    classified = {
        c.removeprefix("Programming Language :: Python :: ")
        for c in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    ci = _nox_python()
    assert classified == {ci}
    assert PROJECT["requires-python"] == f">={ci}"
    # The image runs the same Python.
    assert _dockerfile_arg("PYTHON_IMAGE").startswith(f"python:{ci}-")
