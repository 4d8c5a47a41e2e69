"""The client shares no code with the simulator that judges it, nor with the test helpers."""

from __future__ import annotations

import ast
from pathlib import Path

import exoccm

PACKAGE = Path(exoccm.__file__).parent
FORBIDDEN = ("exoccm.sim", "exoccm.testing")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_client_and_config_never_import_the_simulator() -> None:
    sources = [*(PACKAGE / "exoscale").rglob("*.py"), *(PACKAGE / "config").rglob("*.py")]
    assert len(sources) > 10
    for source in sources:
        for module in imported_modules(source):
            assert not module.startswith(FORBIDDEN), f"{source} imports {module}"
