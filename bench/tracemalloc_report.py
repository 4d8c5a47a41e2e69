"""Where an exoccm process's memory went: the largest allocation sites of a tracemalloc snapshot.

Usage::

    .venv/bin/python bench/tracemalloc_report.py DIR/peak.snapshot [--top 30] [--compare OTHER]

Snapshots come from ``bench/heartbeats.py --tracemalloc DIR``. Prints JSON: the traced total,
the totals by file and the largest lines (with ``--compare``, the growth from OTHER).
"""

from __future__ import annotations

import argparse
import json
import tracemalloc
from pathlib import Path
from typing import Any


def short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename.split("/exoccm/", 1)[-1] if "/exoccm/" in filename else filename


def report(path: Path, top: int, compare: Path | None) -> dict[str, Any]:
    snapshot = tracemalloc.Snapshot.load(str(path))
    total = sum(s.size for s in snapshot.statistics("filename"))
    out: dict[str, Any] = {"snapshot": str(path), "traced_mib": round(total / 2**20, 2)}
    for key in ("filename", "lineno"):
        if compare is None:
            rows = [
                {"where": short(str(s.traceback)), "kib": round(s.size / 1024), "blocks": s.count}
                for s in snapshot.statistics(key)[:top]
            ]
        else:
            other = tracemalloc.Snapshot.load(str(compare))
            rows = [
                {
                    "where": short(str(s.traceback)),
                    "kib": round(s.size / 1024),
                    "growth_kib": round(s.size_diff / 1024),
                    "blocks": s.count,
                }
                for s in snapshot.compare_to(other, key)[:top]
            ]
        out["by_" + key] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--compare", type=Path, help="an earlier snapshot: show the growth")
    args = parser.parse_args()
    print(json.dumps(report(args.snapshot, args.top, args.compare), indent=1))


if __name__ == "__main__":
    main()
