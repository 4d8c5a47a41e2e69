"""The generated documentation is current, complete, and matches what the code does."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from exoccm.controllers.service.declarations import ANNOTATIONS
from exoccm.docs_reference import (
    PAGES,
    Page,
    StaleDocsError,
    cell,
    emitted_event_reasons,
    exoccm_metrics,
    main,
    render_annotation_table,
    replace_block,
    stale_pages,
)

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
BEGIN = "<!-- generated:begin demo (python -m exoccm.docs_reference; do not edit) -->"
END = "<!-- generated:end demo -->"
METRIC_KINDS = frozenset({"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"})


def test_generated_pages_are_up_to_date() -> None:
    assert stale_pages(DOCS) == [], "docs are stale: run `python -m exoccm.docs_reference`"


# -- annotations --------------------------------------------------------------------------------


def _annotation_rows() -> dict[str, str]:
    text = (DOCS / "annotations.md").read_text(encoding="utf-8")
    rows = re.findall(r'^\| <span id="([^"]+)"></span>(.*)$', text, flags=re.MULTILINE)
    return dict(rows)


def test_every_annotation_has_one_row_in_registry_order() -> None:
    text = (DOCS / "annotations.md").read_text(encoding="utf-8")
    order = re.findall(r'^\| <span id="([^"]+)"></span>', text, flags=re.MULTILINE)
    assert order == [spec.suffix for spec in ANNOTATIONS]


def test_rows_mark_written_back_and_exoccm_only_annotations() -> None:
    rows = _annotation_rows()
    for spec in ANNOTATIONS:
        name_cell = rows[spec.suffix].split(" | ")[0]
        assert ("*written back*" in name_cell) == spec.written_back, spec.suffix
        assert ("*exoccm only*" in name_cell) == (not spec.go_ccm.understood), spec.suffix
    # The registry itself says what the Go CCM compatibility story needs.
    assert {s.suffix for s in ANNOTATIONS if s.written_back} == {"id", "service-instancepool-id"}
    assert {s.suffix for s in ANNOTATIONS if not s.go_ccm.understood} == {
        "zone",
        "service-healthcheck-tls-sni",
    }


def test_annotation_table_shows_defaults_and_the_prefix() -> None:
    table = render_annotation_table()
    assert "`service.beta.kubernetes.io/exoscale-loadbalancer-`" in table
    interval = next(
        line for line in table.splitlines() if 'id="service-healthcheck-interval"' in line
    )
    assert "| `10s` |" in interval
    external = next(line for line in table.splitlines() if 'id="external"' in line)
    assert "`true` \\| `false`" in external  # the enum's pipe does not split the cell
    assert external.count(" | ") == 3


def test_cell_escapes_pipes_everywhere_and_angle_brackets_outside_code() -> None:
    assert cell("a | b") == "a \\| b"
    assert cell("<= interval") == "&lt;= interval"
    assert cell("`k8s-<uid>` or <none>") == "`k8s-<uid>` or &lt;none&gt;"
    assert cell("`a|b`") == "`a\\|b`"
    assert cell("two\nlines") == "two lines"


# -- metrics ------------------------------------------------------------------------------------


def _metrics_defined_in_the_source() -> set[str]:
    """Names of the metrics constructed anywhere in the package (exposed names)."""
    names = set()
    for path in (ROOT / "exoccm").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            kind = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            first = node.args[0]
            if kind in METRIC_KINDS and isinstance(first, ast.Constant):
                name = str(first.value)
                names.add(name if kind != "Counter" or name.endswith("_total") else name + "_total")
    return names


def test_metrics_table_lists_every_metric_the_code_defines() -> None:
    documented = {m.name for m in exoccm_metrics()}
    defined = _metrics_defined_in_the_source()
    assert "exoccm_api_requests_total" in defined, "the source scan is broken"
    assert defined == documented, f"defined but not documented: {sorted(defined - documented)}"
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    for name in documented:
        assert f"| `{name}` |" in text, name


def test_metric_names_are_the_exposed_ones() -> None:
    by_name = {m.name: m for m in exoccm_metrics()}
    assert by_name["exoccm_api_requests_total"].labels == ("operation", "zone", "code")
    assert by_name["workqueue_depth"].kind == "gauge"
    assert by_name["controller_runtime_reconcile_time_seconds"].kind == "histogram"
    assert by_name["leader_election_master_status"].labels == ("name",)


# -- Event reasons ------------------------------------------------------------------------------


def _documented_reasons() -> set[str]:
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    return set(re.findall(r"^### ([A-Z][A-Za-z]+)$", text, flags=re.MULTILINE))


def test_troubleshooting_documents_every_event_reason_the_code_emits() -> None:
    emitted = {event.reason for event in emitted_event_reasons()}
    missing = emitted - _documented_reasons()
    assert not missing, f"Event reasons without a section in docs/troubleshooting.md: {missing}"


def test_troubleshooting_documents_no_reason_the_code_does_not_emit() -> None:
    emitted = {event.reason for event in emitted_event_reasons()}
    stale = _documented_reasons() - emitted
    assert not stale, f"docs/troubleshooting.md documents reasons never emitted: {stale}"


def test_the_scan_finds_service_and_node_events() -> None:
    events = {(e.reason, e.type) for e in emitted_event_reasons()}
    assert ("SyncLoadBalancerFailed", "Warning") in events
    assert ("EnsuredLoadBalancer", "Normal") in events
    assert ("Synced", "Normal") in events
    assert ("DeletingNode", "Normal") in events


def test_the_scan_refuses_a_reason_it_cannot_read(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "ok.py").write_text(
        "async def f(recorder, obj, reason):\n"
        '    await recorder.event(obj, "Normal", "Literal", "message")\n'
        '    await recorder.event("not an event type")\n'
        '    logger.event("Normal")\n'
    )
    assert [(e.reason, e.type) for e in emitted_event_reasons(package)] == [("Literal", "Normal")]
    (package / "bad.py").write_text(
        'async def g(self, obj, why):\n    await self._event(obj, "Warning", why, "message")\n'
    )
    with pytest.raises(ValueError, match=r"bad\.py:2: the Event reason is not a string literal"):
        emitted_event_reasons(package)


# -- blocks and pages ---------------------------------------------------------------------------


def test_replace_block_rewrites_only_between_the_markers() -> None:
    text = f"intro\n{BEGIN}\nold\n{END}\noutro\n"
    new = replace_block(text, "demo", "| a |\n")
    assert new == f"intro\n{BEGIN}\n\n| a |\n\n{END}\noutro\n"
    assert replace_block(new, "demo", "| a |") == new


@pytest.mark.parametrize(
    "text",
    [
        "no markers\n",
        f"{BEGIN}\n",
        f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n",
        f"{END}\n{BEGIN}\n",
    ],
)
def test_replace_block_refuses_missing_or_misplaced_markers(text: str) -> None:
    with pytest.raises(StaleDocsError):
        replace_block(text, "demo", "x")


def test_stale_pages_reports_then_rewrites(tmp_path: Path) -> None:
    (tmp_path / "page.md").write_text(f"# Page\n\n{BEGIN}\nstale\n{END}\n")
    pages = (Page("page.md", blocks=(("demo", lambda: "fresh"),)),)
    assert stale_pages(tmp_path, pages) == ["page.md"]
    assert "stale" in (tmp_path / "page.md").read_text()
    assert stale_pages(tmp_path, pages, write=True) == ["page.md"]
    assert (tmp_path / "page.md").read_text() == f"# Page\n\n{BEGIN}\n\nfresh\n\n{END}\n"
    assert stale_pages(tmp_path, pages) == []


def test_main_checks_and_regenerates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for page in PAGES:
        shutil.copy(DOCS / page.path, tmp_path / page.path)
    original = (tmp_path / "annotations.md").read_text()
    (tmp_path / "annotations.md").write_text(original.replace("| `10s` |", "| `11s` |"))
    (tmp_path / "configuration.md").write_text("hand-edited\n")
    assert main(["--check", "--docs", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "annotations.md: stale" in err
    assert "configuration.md: stale" in err
    assert "operations.md" not in err
    assert main(["--docs", str(tmp_path)]) == 0
    assert (tmp_path / "annotations.md").read_text() == original
    assert main(["--check", "--docs", str(tmp_path)]) == 0


def test_main_reports_a_page_without_markers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for page in PAGES:
        shutil.copy(DOCS / page.path, tmp_path / page.path)
    (tmp_path / "operations.md").write_text("# Operations\n")
    assert main(["--check", "--docs", str(tmp_path)]) == 2
    assert "operations.md" in capsys.readouterr().err
