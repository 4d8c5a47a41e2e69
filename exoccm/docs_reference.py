"""The generated parts of the documentation site, rendered from the code they describe.

* ``docs/annotations.md``: the annotation table, from :data:`~exoccm.controllers.service.
  declarations.ANNOTATIONS` (the declarations the parser reads);
* ``docs/operations.md``: the metrics table, from the Prometheus metric objects exoccm registers;
* ``docs/configuration.md``: the whole page, from :func:`exoccm.config.render_markdown`.

A generated block sits between two HTML comments in a hand-written page, so the prose around it
stays editable::

    <!-- generated:begin annotations (python -m exoccm.docs_reference; do not edit) -->
    ...
    <!-- generated:end annotations -->

``python -m exoccm.docs_reference`` rewrites the blocks (and the configuration page);
``--check`` changes nothing and exits 1 naming every stale page. :func:`emitted_event_reasons`
finds the Event reasons the code can emit, so a test keeps the troubleshooting page complete.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from exoccm.controllers.service.declarations import ANNOTATIONS, PREFIX, Annotation

PACKAGE_DIR = Path(__file__).resolve().parent

_BEGIN = "<!-- generated:begin {name} (python -m exoccm.docs_reference; do not edit) -->"
_END = "<!-- generated:end {name} -->"
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


class StaleDocsError(Exception):
    """A page lacks the markers of a generated block, or has them in the wrong shape."""


# -- table cells --------------------------------------------------------------------------------


def _escape_text(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def cell(text: str) -> str:
    """``text`` for one Markdown table cell: pipes escaped, ``<``/``>`` escaped outside code
    spans (inside them Markdown shows the characters as they are)."""
    out = []
    position = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_escape_text(text[position : match.start()]))
        out.append(match.group(0).replace("|", "\\|"))
        position = match.end()
    out.append(_escape_text(text[position:]))
    return "".join(out).replace("\n", " ")


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# -- annotations --------------------------------------------------------------------------------


def _annotation_name(annotation: Annotation[Any]) -> str:
    marks = []
    if annotation.written_back:
        marks.append("written back")
    if not annotation.go_ccm.understood:
        marks.append("exoccm only")
    name = f"`{annotation.suffix}`"
    return name + "".join(f"<br>*{mark}*" for mark in marks)


def _annotation_description(annotation: Annotation[Any]) -> str:
    return " ".join(filter(None, (annotation.description, annotation.go_ccm.note)))


def render_annotation_table(annotations: Sequence[Annotation[Any]] = ANNOTATIONS) -> str:
    """The annotation reference table: one row per declaration, in declaration order."""
    rows = (
        (
            f'<span id="{annotation.suffix}"></span>{_annotation_name(annotation)}',
            cell(annotation.shown_type),
            cell(annotation.shown_default) if annotation.shown_default else "unset",
            cell(_annotation_description(annotation)),
        )
        for annotation in annotations
    )
    lines = [
        f"Every name below follows the prefix `{PREFIX}`.",
        "",
        *_table(("Name", "Type", "Default", "Description"), rows),
    ]
    return "\n".join(lines)


# -- metrics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricInfo:
    """One metric as ``/metrics`` exposes it."""

    name: str
    kind: str
    labels: tuple[str, ...]
    help: str


def metric_modules() -> list[object]:
    """The modules holding every metric exoccm defines (imported here, not at module level, so
    importing this module registers nothing)."""
    from exoccm.controllers import metrics as controller_metrics
    from exoccm.engine import metrics as engine_metrics
    from exoccm.exoscale import metrics as exoscale_metrics
    from exoccm.kube import metrics as kube_metrics

    return [kube_metrics, engine_metrics, exoscale_metrics, controller_metrics]


def exoccm_metrics(modules: Iterable[object] | None = None) -> list[MetricInfo]:
    """Every metric object defined at the top level of ``modules``, in definition order."""
    found: list[MetricInfo] = []
    for module in metric_modules() if modules is None else modules:
        for value in vars(module).values():
            if not isinstance(value, MetricWrapperBase):
                continue
            (described,) = value.describe()
            name = described.name + ("_total" if described.type == "counter" else "")
            labels = tuple(str(label) for label in getattr(value, "_labelnames", ()))
            found.append(MetricInfo(name, described.type, labels, described.documentation))
    return found


def render_metrics_table(metrics: Sequence[MetricInfo] | None = None) -> str:
    """The metrics reference table."""
    rows = (
        (
            f"`{m.name}`",
            m.kind,
            ", ".join(f"`{label}`" for label in m.labels) or "none",
            cell(m.help),
        )
        for m in (exoccm_metrics() if metrics is None else metrics)
    )
    return "\n".join(_table(("Metric", "Type", "Labels", "Meaning"), rows))


# -- Event reasons ------------------------------------------------------------------------------

_EVENT_METHODS = frozenset({"event", "_event"})
_EVENT_TYPES = frozenset({"Normal", "Warning"})


@dataclass(frozen=True)
class EmittedEvent:
    reason: str
    type: str
    where: str  # path:line


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _event_call(call: ast.Call) -> tuple[str, ast.expr | None] | None:
    """``(type, reason expression)`` if ``call`` records a Kubernetes Event, else ``None``."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in _EVENT_METHODS:
        return None
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    type_node = call.args[1] if len(call.args) > 1 else keywords.get("type_")
    event_type = _literal(type_node)
    if event_type not in _EVENT_TYPES:
        return None
    reason = call.args[2] if len(call.args) > 2 else keywords.get("reason")
    assert event_type is not None
    return event_type, reason


def emitted_event_reasons(package_dir: Path = PACKAGE_DIR) -> list[EmittedEvent]:
    """Every ``recorder.event(obj, "Normal"|"Warning", "Reason", ...)`` call in the package.

    Raises :class:`ValueError` for a call whose reason is not a string literal: the
    troubleshooting page could not be checked against it.
    """
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(package_dir.parent)}:{node.lineno}"
            # The service controller's Note("Reason", message) becomes a Warning Event.
            if isinstance(node.func, ast.Name) and node.func.id == "Note" and node.args:
                note_reason = _literal(node.args[0])
                if note_reason is None:
                    raise ValueError(f"{where}: the Note reason is not a string literal")
                found.append(EmittedEvent(note_reason, "Warning", where))
                continue
            event = _event_call(node)
            if event is None:
                continue
            if isinstance(event[1], ast.Attribute) and event[1].attr == "reason":
                continue  # note.reason: every Note(...) literal is found above
            reason = _literal(event[1])
            if reason is None:
                raise ValueError(f"{where}: the Event reason is not a string literal")
            found.append(EmittedEvent(reason, event[0], where))
    return found


# -- pages --------------------------------------------------------------------------------------


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with the generated block ``name`` holding ``content``."""
    begin, end = _BEGIN.format(name=name), _END.format(name=name)
    if text.count(begin) != 1 or text.count(end) != 1:
        raise StaleDocsError(
            f"the page needs exactly one {begin!r} line and one {end!r} line (found "
            f"{text.count(begin)} and {text.count(end)})"
        )
    head, rest = text.split(begin, 1)
    if end not in rest or "\n" not in rest.split(end, 1)[0]:
        raise StaleDocsError(f"{end!r} must come after {begin!r}, on a line of its own")
    tail = rest.split(end, 1)[1]
    return f"{head}{begin}\n\n{content.strip()}\n\n{end}{tail}"


@dataclass(frozen=True)
class Page:
    """A page with generated content: either whole (``render``) or blocks in hand-written prose."""

    path: str  # relative to the docs directory
    blocks: tuple[tuple[str, Callable[[], str]], ...] = ()
    render: Callable[[], str] | None = None

    def expected(self, current: str) -> str:
        if self.render is not None:
            return self.render()
        text = current
        for name, renderer in self.blocks:
            text = replace_block(text, name, renderer())
        return text


def _configuration_page() -> str:
    from exoccm.config import render_markdown

    return render_markdown()


PAGES: tuple[Page, ...] = (
    Page("annotations.md", blocks=(("annotations", render_annotation_table),)),
    Page("operations.md", blocks=(("metrics", render_metrics_table),)),
    Page("configuration.md", render=_configuration_page),
)


def stale_pages(docs: Path, pages: Sequence[Page] = PAGES, *, write: bool = False) -> list[str]:
    """Pages whose generated content differs from the code; rewritten when ``write``."""
    stale = []
    for page in pages:
        path = docs / page.path
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        try:
            expected = page.expected(current)
        except StaleDocsError as exc:
            raise StaleDocsError(f"{path}: {exc}") from None
        if expected != current:
            stale.append(page.path)
            if write:
                path.write_text(expected, encoding="utf-8")
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exoccm.docs_reference",
        description="Regenerate the generated parts of the documentation from the code.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if a page is stale",
    )
    parser.add_argument(
        "--docs",
        type=Path,
        default=Path("docs"),
        help="the documentation directory (default: ./docs)",
    )
    args = parser.parse_args(argv)
    try:
        stale = stale_pages(args.docs, write=not args.check)
    except StaleDocsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    for page in stale:
        verb = "stale" if args.check else "rewritten"
        sys.stderr.write(f"{args.docs / page}: {verb}\n")
    if args.check and stale:
        sys.stderr.write("run `python -m exoccm.docs_reference` to regenerate\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
