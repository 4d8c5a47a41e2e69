"""A local stand-in for ``python:3.11-slim-bookworm``, the release image's base.

The image tests build the release Dockerfile where no container registry is reachable, so its
base cannot be pulled. ``mmdebstrap`` builds a Debian bookworm root filesystem from this
machine's own apt sources instead, shaped like the official image where the Dockerfile relies
on it:

- ``/usr/local/bin/python3.11`` and ``/usr/local/bin/python`` (the virtualenv's interpreter
  link points there), and ``pip`` and ``setuptools`` installed with their RECORD files, so the
  runtime stage can uninstall them; Debian's own ``python3-pip`` is not installed;
- no ``EXTERNALLY-MANAGED`` marker, so ``pip install`` works as in the official image;
- documentation, manual pages and locales left out, as in Debian's slim images;
- the build machine's CA bundle, named by ``SSL_CERT_FILE``: where downloads go through a
  TLS-inspecting proxy, the build's ``pip`` and ``uv`` must trust that proxy's CA.

The root filesystem is cached as a tarball in ``~/.cache/exoccm/image-base/``, keyed by
everything that goes into it (this recipe, the apt sources, the CA bundle, the mmdebstrap
version), and imported into podman's storage as ``localhost/exoccm-python-standin:<key>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

SUITE = "bookworm"
REPOSITORY = "localhost/exoccm-python-standin"
PACKAGES = ("python3.11", "ca-certificates", "python3-pip-whl", "python3-setuptools-whl")
CA_BUNDLE_IN_IMAGE = "/etc/ssl/certs/ca-certificates.crt"
SOURCES_ENV = "EXOCCM_IMAGE_APT_SOURCES"
DEFAULT_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
# merged-/usr without the usrmerge package (which would pull in perl), as Debian's images are.
MERGED_USR_HOOKS = Path("/usr/share/mmdebstrap/hooks/merged-usr")

DPKG_OPTIONS = (
    "force-unsafe-io",  # a throwaway root filesystem: no fsync per file
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
)

# Run by mmdebstrap with the root filesystem as "$1", on the host (chroot for commands inside).
_IN_ROOT = 'chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin '
CUSTOMIZE_HOOKS = (
    # pip and setuptools from Debian's wheels, run from the pip wheel itself: installed under
    # /usr/local with RECORD files, like the official image's (uninstallable by pip).
    _IN_ROOT + "/bin/sh -c 'set -e; cd /usr/share/python-wheels; set -- pip-*.whl; "
    'python3.11 "$1/pip" install --no-index --no-cache-dir --disable-pip-version-check '
    "--root-user-action=ignore --break-system-packages ./*.whl'",
    _IN_ROOT + "dpkg --purge python3-pip-whl python3-setuptools-whl",
    'rm -f "$1/usr/lib/python3.11/EXTERNALLY-MANAGED"',
    'ln -s /usr/bin/python3.11 "$1/usr/local/bin/python3.11"',
    'ln -s python3.11 "$1/usr/local/bin/python3"',
    'ln -s python3.11 "$1/usr/local/bin/python"',
)
IMAGE_CONFIG = (
    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    f"ENV SSL_CERT_FILE={CA_BUNDLE_IN_IMAGE}",
    'CMD ["python3"]',
)

Progress = Callable[[str], None]


class StandinError(RuntimeError):
    """The stand-in base could not be built."""


def _print(message: str) -> None:
    print(f"[exoccm image] {message}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "exoccm" / "image-base"


def apt_sources() -> Path:
    """This machine's Debian apt sources (``EXOCCM_IMAGE_APT_SOURCES`` overrides)."""
    override = os.environ.get(SOURCES_ENV)
    candidates = [Path(override)] if override else list(DEFAULT_SOURCES)
    for path in candidates:
        if path.is_file() and SUITE in path.read_text():
            return path
    names = ", ".join(str(p) for p in candidates)
    raise StandinError(
        f"no apt sources for Debian {SUITE} in {names}: the stand-in base is built from them; "
        f"set {SOURCES_ENV} to a sources file (one-line or deb822) naming a {SUITE} mirror"
    )


def ca_bundle() -> Path:
    """The CA bundle this machine trusts (``SSL_CERT_FILE``, else Debian's)."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), CA_BUNDLE_IN_IMAGE):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise StandinError(
        f"no CA bundle: neither SSL_CERT_FILE nor {CA_BUNDLE_IN_IMAGE} is a file; "
        "install ca-certificates"
    )


def mmdebstrap_args(sources: Path, bundle: Path, target: Path) -> list[str]:
    args = ["mmdebstrap", "--variant=minbase", "--format=tar", f"--include={','.join(PACKAGES)}"]
    args.append(f"--hook-dir={MERGED_USR_HOOKS}")
    args += [f"--dpkgopt={option}" for option in DPKG_OPTIONS]
    args += [f"--customize-hook={hook}" for hook in CUSTOMIZE_HOOKS]
    args.append(f"--customize-hook=upload {bundle} {CA_BUNDLE_IN_IMAGE}")
    return [*args, SUITE, str(target), str(sources)]


def _tool_version(tool: str) -> str:
    return subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout


def cache_key(sources: Path, bundle: Path, mmdebstrap_version: str) -> str:
    """A hash of everything that goes into the base: a changed input never reuses a stale one."""
    recipe = {
        "suite": SUITE,
        "packages": PACKAGES,
        "dpkg": DPKG_OPTIONS,
        "hooks": CUSTOMIZE_HOOKS,
        "config": IMAGE_CONFIG,
        "mmdebstrap": mmdebstrap_version.strip(),
        "sources": sources.read_text(),
        "ca-bundle": hashlib.sha256(bundle.read_bytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def _image_exists(reference: str) -> bool:
    return subprocess.run(["podman", "image", "exists", reference], check=False).returncode == 0


def _build_tarball(sources: Path, bundle: Path, tarball: Path, progress: Progress) -> None:
    progress(f"building the stand-in base ({SUITE}, {' '.join(PACKAGES)}) with mmdebstrap")
    partial = tarball.with_name(tarball.name + ".partial")
    result = subprocess.run(
        mmdebstrap_args(sources, bundle, partial),
        stdout=sys.stderr,
        check=False,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise StandinError(f"mmdebstrap exited {result.returncode} (its output is above)")
    partial.rename(tarball)
    # One base is enough: drop tarballs of earlier recipes.
    for old in tarball.parent.glob("*.tar"):
        if old != tarball:
            old.unlink()


def ensure(progress: Progress = _print) -> str:
    """The stand-in base in podman's storage (from the cache or built); its reference."""
    missing = [tool for tool in ("mmdebstrap", "podman") if shutil.which(tool) is None]
    if missing:
        raise StandinError(
            f"{' and '.join(missing)} not found: install podman, buildah and mmdebstrap "
            "(apt-get install podman buildah mmdebstrap; .ci/run does it)"
        )
    sources, bundle = apt_sources(), ca_bundle()
    key = cache_key(sources, bundle, _tool_version("mmdebstrap"))
    reference = f"{REPOSITORY}:{key}"
    if _image_exists(reference):
        progress(f"stand-in base {reference} is in podman's storage")
        return reference
    tarball = cache_dir() / f"{key}.tar"
    if not tarball.is_file():
        tarball.parent.mkdir(parents=True, exist_ok=True)
        _build_tarball(sources, bundle, tarball, progress)
    progress(f"importing {tarball} as {reference}")
    changes = [arg for change in IMAGE_CONFIG for arg in ("--change", change)]
    subprocess.run(
        ["podman", "import", "--quiet", *changes, str(tarball), reference],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return reference
