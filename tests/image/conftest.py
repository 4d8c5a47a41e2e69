"""The image tests: they check the image ``nox -s image`` builds, so only that session runs them.

``pytest tests`` (``./dev test``) does not collect this directory; naming it does
(``pytest tests/image``, with ``EXOCCM_IMAGE`` set to the image to check).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image.container import ImageInfo, WorkingContainer

HERE = Path(__file__).resolve().parent
IMAGE_ENV = "EXOCCM_IMAGE"


def named_on_command_line(config: pytest.Config) -> bool:
    """Whether a command-line argument points into this directory."""
    base = config.invocation_params.dir
    for arg in config.args:
        path = (base / arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    return None if named_on_command_line(config) else True


@pytest.fixture(scope="session")
def image() -> str:
    """The image under test (its ID or reference), from ``EXOCCM_IMAGE``."""
    value = os.environ.get(IMAGE_ENV)
    if not value:
        pytest.fail(
            f"{IMAGE_ENV} is not set: these tests check a built image; run `./dev -s image`, "
            "which builds it and runs them"
        )
    return value


@pytest.fixture(scope="session")
def image_info(image: str) -> ImageInfo:
    return ImageInfo.of(image)


@pytest.fixture(scope="session")
def container(image: str) -> Iterator[WorkingContainer]:
    """One working container of the image for the read-only checks."""
    with WorkingContainer(image) as working:
        yield working
