"""What the image holds and says about itself: exoccm and its production dependencies only.

No pip (nor uv, setuptools, wheel), no compiler, none of the test or demo dependencies (the
simulator's and the local control plane's packages), no secrets; labels with the package
version and the git revision; ``exoccm version`` inside it prints the package version.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image.build import REPO, VENV, git_revision, installed_packages
from tests.image.container import ImageInfo, WorkingContainer

USER = "65532:65532"
PACKAGING_TOOLS = ("pip", "setuptools", "wheel", "uv")
COMPILERS = ("cc", "c++", "gcc", "g++", "clang", "tcc", "ld", "as", "make", "rustc", "go")
# Files that hold credentials when a build leaks them.
CREDENTIAL_FILES = (
    ".netrc",
    ".git-credentials",
    ".pypirc",
    "pip.conf",
    "uv.toml",
    ".npmrc",
    ".dockercfg",
    "id_rsa",
    "id_ecdsa",
    "id_ed25519",
    "kubeconfig",
    "credentials.json",
    ".env",
)
# What `uv sync --no-dev --no-default-groups` (the Dockerfile) installs, as requirements.
PRODUCTION_EXPORT = (
    *("--locked", "--no-dev", "--no-default-groups", "--no-emit-project", "--no-hashes"),
    *("--format", "requirements-txt", "--quiet"),
)
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]{40}")
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL", flags=re.IGNORECASE)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return _normalize(match.group(0))


def _files(rootfs: Path) -> Iterator[Path]:
    for directory, _, names in os.walk(rootfs):
        for name in names:
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                yield path


@pytest.fixture(scope="module")
def rootfs(container: WorkingContainer) -> Path:
    return container.rootfs()


def test_exoccm_version_inside_is_the_package_version(
    container: WorkingContainer, image_info: ImageInfo
) -> None:
    version = importlib.metadata.version("exoccm")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert version == project["version"]
    result = container.run([*image_info.entrypoint, "version"], user=USER)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"exoccm {version}"


def test_labels_carry_the_version_and_the_revision(image_info: ImageInfo) -> None:
    labels = image_info.labels
    assert labels["org.opencontainers.image.version"] == importlib.metadata.version("exoccm")
    assert labels["org.opencontainers.image.revision"] == git_revision()
    assert labels["org.opencontainers.image.title"] == "exoccm"
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"


def test_the_entry_point_is_exoccm_run_as_a_non_root_user(image_info: ImageInfo) -> None:
    assert image_info.entrypoint == (f"{VENV}/bin/exoccm",)
    assert image_info.cmd == ("run",)
    assert image_info.user == USER


def test_no_packaging_tools(rootfs: Path, container: WorkingContainer) -> None:
    found = [
        str(path.relative_to(rootfs))
        for tool in PACKAGING_TOOLS
        for pattern in (f"**/{tool}/__init__.py", f"**/{tool}-*.dist-info", f"**/bin/{tool}*")
        for path in rootfs.glob(pattern)
    ]
    assert found == []
    # As a user of the image sees it: neither Python on the PATH can run pip.
    for python in ("python", "/usr/local/bin/python3.11"):
        result = container.run([python, "-m", "pip", "--version"], user=USER)
        assert result.returncode != 0
        assert "No module named pip" in result.stderr


def test_no_compiler(rootfs: Path, image_info: ImageInfo) -> None:
    path = image_info.env["PATH"].split(":")
    found = [
        f"{directory}/{name}"
        for directory in {*path, "/usr/bin", "/usr/local/bin"}
        for name in COMPILERS
        if os.path.lexists(rootfs / directory.lstrip("/") / name)
    ]
    assert found == []


def test_only_the_production_dependencies(rootfs: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH (./dev installs it): it lists the locked production set"
    exported = subprocess.run(
        [uv, "export", *PRODUCTION_EXPORT],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    production = {
        _requirement_name(line): line.split("==", 1)[1].split(";")[0].strip()
        for line in exported.splitlines()
        if line and not line.startswith((" ", "#"))
    }
    installed = installed_packages(rootfs)
    assert installed.pop("exoccm") == importlib.metadata.version("exoccm")
    assert installed == production

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    unwanted = {
        _requirement_name(requirement)
        for requirement in [
            *pyproject["project"]["optional-dependencies"]["demo"],
            *pyproject["dependency-groups"]["test"],
        ]
    } - {"exoccm"}
    assert {"starlette", "uvicorn", "cryptography", "pytest"} <= unwanted
    assert unwanted & set(installed) == set()


def _holds_a_private_key(path: Path) -> bool:
    data = path.read_bytes()
    # Compiled code is not where a build leaks keys, and libgnutls carries its self-test keys.
    return not data.startswith(b"\x7fELF") and PRIVATE_KEY.search(data) is not None


def test_no_secrets(rootfs: Path, image_info: ImageInfo) -> None:
    leaked = [
        str(path.relative_to(rootfs))
        for path in _files(rootfs)
        if path.name in CREDENTIAL_FILES or _holds_a_private_key(path)
    ]
    assert leaked == []
    # The build's caches were mounts and its sources stayed in the builder stage.
    caches = [str(p.relative_to(rootfs)) for p in rootfs.glob("**/.cache")]
    assert caches == []
    assert not (rootfs / "src").exists()
    # Nothing secret in the image's configuration or in the build arguments of its history.
    assert [name for name in image_info.env if SECRET_NAME.search(name)] == []
    build_args = {name for step in image_info.history for name in re.findall(r"\b([A-Z_]+)=", step)}
    assert [name for name in build_args if SECRET_NAME.search(name)] == []


def test_the_operations_guide_lists_the_images_packages(rootfs: Path) -> None:
    guide = (REPO / "docs" / "operations.md").read_text()
    section = guide[guide.index("## The container image") :]
    listed = re.search(r"\(as the session prints them\):\n\n```\n(.*?)```", section, re.DOTALL)
    assert listed, "docs/operations.md lost the image's package list"
    documented = dict(line.split("==") for line in listed.group(1).splitlines())
    installed = installed_packages(rootfs)
    assert documented == installed, "update the package list in docs/operations.md"
    assert f"The {len(installed)} Python packages in `{VENV}`" in section
