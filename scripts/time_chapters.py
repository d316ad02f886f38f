"""Where a book build's time goes: execute chapters in fresh kernels and time every cell.

    .venv/bin/python scripts/time_chapters.py [CHAPTER ...] [--top 5] [--json FILE]

Executes each chapter (default: every numbered chapter in chapters/) the way the book build
does (a fresh kernel, the chapter's folder as working directory, the profile from
$COURSE_PROFILE), and prints the chapter's wall time, the time of its kernel start and of its
slowest cells, each with the first line of its source. Nothing is written into the chapters.
Run it on a quiet machine: on a busy one every number grows.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def _seconds(cell) -> float | None:
    """A cell's execution time from nbclient's timestamps (None if it did not run)."""
    ex = cell.get("metadata", {}).get("execution", {})
    start, end = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def time_chapter(path: Path, timeout: int = 1800) -> dict:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    client.execute()
    total = time.perf_counter() - t0
    cells = [(i, _seconds(c), c.source.strip().splitlines()[0][:70] if c.source.strip() else "")
             for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    in_cells = sum(s for _, s, _ in cells if s)
    return {"chapter": path.name, "seconds": round(total, 1),
            "outside_cells": round(total - in_cells, 1),  # kernel start-up and shut-down
            "cells": [{"index": i, "seconds": round(s, 2), "first_line": line}
                      for i, s, line in cells if s is not None]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapters", nargs="*", type=Path)
    ap.add_argument("--top", type=int, default=5, help="slowest cells to list per chapter")
    ap.add_argument("--json", type=Path, help="also write every cell's time to this file")
    args = ap.parse_args()
    paths = args.chapters or sorted((ROOT / "chapters").glob("[0-9]*.ipynb"))
    print(f"profile {os.environ.get('COURSE_PROFILE', 'auto')}, load average "
          f"{os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    out = []
    for path in paths:
        r = time_chapter(path.resolve())
        out.append(r)
        print(f"\n{r['chapter']}: {r['seconds']:.1f} s "
              f"(outside cells: {r['outside_cells']:.1f} s)")
        for c in sorted(r["cells"], key=lambda c: -c["seconds"])[:args.top]:
            print(f"  {c['seconds']:7.2f} s  cell {c['index']:>2}  {c['first_line']}")
    print(f"\ntotal {sum(r['seconds'] for r in out):.1f} s; load average now "
          f"{os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
