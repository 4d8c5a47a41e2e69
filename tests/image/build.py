"""Build the release Dockerfile with podman on the stand-in base and report what is inside.

``python -m tests.image.build`` (run by ``nox -s image``) builds the stand-in for
``python:3.11-slim-bookworm`` (cached, see :mod:`tests.image.standin_base`), then the Dockerfile
exactly as for a release, with only ``PYTHON_IMAGE`` differing::

    podman build --isolation=chroot --build-arg PYTHON_IMAGE=<stand-in> \\
        --build-arg VERSION=<version> --build-arg REVISION=<git HEAD> -t localhost/exoccm:<version> .

It prints the image's size and the Python packages in its virtualenv, fails when the image
exceeds :data:`SIZE_BUDGET`, and prints the image ID as the last line on stdout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path

from tests.image import standin_base
from tests.image.container import ImageInfo, WorkingContainer

REPO = Path(__file__).resolve().parents[2]
REPOSITORY = "localhost/exoccm"
VENV = "/app/.venv"
# The whole image, base included, in decimal MB as podman reports it. On the stand-in base
# it measured 172 MB (docs/operations.md); exoccm's own layers are about 24 MB of it.
SIZE_BUDGET = 190 * 1000 * 1000


class ImageBuildError(RuntimeError):
    """The image could not be built, or it breaks its budget."""


def _print(message: str) -> None:
    print(f"[exoccm image] {message}", file=sys.stderr, flush=True)


def package_version() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return str(project["version"])


def git_revision() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ImageBuildError(
            f"git rev-parse HEAD failed in {REPO}: the image's revision label needs a git "
            f"checkout ({result.stderr.strip()})"
        )
    return result.stdout.strip()


def build_args(base: str, version: str, revision: str) -> dict[str, str]:
    """The release build's arguments (VERSION, REVISION) plus the stand-in base."""
    return {"PYTHON_IMAGE": base, "VERSION": version, "REVISION": revision}


def build(base: str, version: str, revision: str) -> str:
    """``podman build`` of the repository's Dockerfile; the new image's ID."""
    with tempfile.TemporaryDirectory(prefix="exoccm-image-") as scratch:
        iidfile = Path(scratch) / "iid"
        args = ["podman", "build", "--isolation=chroot", f"--iidfile={iidfile}"]
        for name, value in build_args(base, version, revision).items():
            args.append(f"--build-arg={name}={value}")
        args += ["--tag", f"{REPOSITORY}:{version}", str(REPO)]
        result = subprocess.run(args, stdout=sys.stderr, check=False)
        if result.returncode != 0:
            raise ImageBuildError(f"podman build exited {result.returncode} (output above)")
        return iidfile.read_text().strip().removeprefix("sha256:")


def _metadata_field(text: str, name: str) -> str:
    match = re.search(rf"^{name}: (.+)$", text, flags=re.MULTILINE)
    return match.group(1).strip() if match else ""


def installed_packages(rootfs: Path) -> dict[str, str]:
    """Distribution name (normalized) to version, for every package in the image's virtualenv."""
    found: dict[str, str] = {}
    for metadata in rootfs.glob(
        f"{VENV.lstrip('/')}/lib/python*/site-packages/*.dist-info/METADATA"
    ):
        text = metadata.read_text(errors="replace")
        name = re.sub(r"[-_.]+", "-", _metadata_field(text, "Name")).lower()
        found[name] = _metadata_field(text, "Version")
    return found


def megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def report(info: ImageInfo, base: ImageInfo, packages: Mapping[str, str]) -> str:
    lines = [
        f"image {info.id[:12]}: {megabytes(info.size)} "
        f"(base {megabytes(base.size)}, exoccm's layers {megabytes(info.size - base.size)}; "
        f"budget {megabytes(SIZE_BUDGET)})",
        f"{len(packages)} Python packages in {VENV}:",
    ]
    lines += [f"  {name}=={version}" for name, version in sorted(packages.items())]
    return "\n".join(lines)


def check_budget(size: int, budget: int = SIZE_BUDGET) -> None:
    if size > budget:
        raise ImageBuildError(
            f"the image is {megabytes(size)}, over its {megabytes(budget)} budget: find what "
            "grew (podman history, the package list above) or, if it is worth it, raise "
            "SIZE_BUDGET in tests/image/build.py and the figures in docs/operations.md"
        )


def main() -> int:
    missing = [t for t in ("podman", "buildah", "mmdebstrap", "git") if shutil.which(t) is None]
    if missing:
        _print(
            f"{', '.join(missing)} not found: the image session needs podman, buildah, "
            "mmdebstrap and git (apt-get install podman buildah mmdebstrap; .ci/run does it)"
        )
        return 1
    try:
        base = standin_base.ensure(_print)
        version, revision = package_version(), git_revision()
        _print(f"building {REPOSITORY}:{version} (revision {revision[:12]}) on {base}")
        image = build(base, version, revision)
        info, base_info = ImageInfo.of(image), ImageInfo.of(base)
        with WorkingContainer(image) as container:
            packages = installed_packages(container.rootfs())
        _print(report(info, base_info, packages))
        check_budget(info.size)
    except (ImageBuildError, standin_base.StandinError) as error:
        _print(f"error: {error}")
        return 1
    print(image)
    return 0


if __name__ == "__main__":
    sys.exit(main())
