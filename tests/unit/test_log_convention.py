"""exoccm's log messages follow Kubernetes structured logging: a constant, capitalised message
and the details as key-values (``log.info("Deleting orphaned NLB", zone=..., nlb=...)``)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import exoccm

PACKAGE = Path(exoccm.__file__).parent
# The simulator and the test ground log through the standard library for the person running
# them, not in exoccm's format.
NOT_EXOCCM_LOGS = ("sim", "testing")
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}
# A sentence: a capital first, a space somewhere, no trailing period, no format placeholder.
MESSAGE = re.compile(r"^[A-Z][^%{}\n]* [^%{}\n]*[^.\s]$")


def log_messages(source: str) -> Iterator[tuple[int, ast.expr]]:
    """The message argument of every logger call: ``<...log...>.info(msg, ...)`` or
    ``<...log...>.log(level, msg, ...)``."""
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if "log" not in ast.unparse(node.func.value).lower():
            continue
        if node.func.attr in LEVELS and node.args:
            yield node.lineno, node.args[0]
        elif node.func.attr == "log" and len(node.args) >= 2:
            yield node.lineno, node.args[1]


def violations(source: str) -> list[str]:
    found = []
    for line, message in log_messages(source):
        if not (isinstance(message, ast.Constant) and isinstance(message.value, str)):
            found.append(f"line {line}: the message is not a constant string")
        elif not MESSAGE.match(message.value):
            found.append(f"line {line}: {message.value!r}")
    return found


def _sources() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] not in NOT_EXOCCM_LOGS:
            yield path


def test_every_log_message_is_a_capitalised_constant_sentence() -> None:
    problems = [
        f"{path.relative_to(PACKAGE.parent)} {problem}"
        for path in _sources()
        for problem in violations(path.read_text(encoding="utf-8"))
    ]
    assert not problems, "log messages must read 'Deleting orphaned NLB', key-values apart:\n" + (
        "\n".join(problems)
    )


def test_the_scan_sees_the_log_calls() -> None:
    calls = sum(len(list(log_messages(p.read_text(encoding="utf-8")))) for p in _sources())
    assert calls > 60  # a scan that matched nothing would pass anything


def test_the_checker_refuses_what_breaks_the_convention() -> None:
    source = """
log.info("orphan_nlb_deleting", nlb=lb_id)
self._log.warning("controller stopped")
log.error(f"Deleting {nlb}")
log.info("Deleting orphaned NLB %s", nlb)
self._log.log(logging.ERROR, "Reconcile failed.")
log.info("Deleted")
log.info("Deleting orphaned NLB", nlb=lb_id)
events.info("not a logger")
"""
    assert violations(source) == [
        "line 2: 'orphan_nlb_deleting'",
        "line 3: 'controller stopped'",
        "line 4: the message is not a constant string",
        "line 5: 'Deleting orphaned NLB %s'",
        "line 6: 'Reconcile failed.'",
        "line 7: 'Deleted'",
    ]
