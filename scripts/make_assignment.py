"""Write the assignment edition of the course: ``python scripts/make_assignment.py OUT_DIR``.

The edition is a complete copy of the course (every file git tracks or would track) in which

* every region between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` in ``course_lib`` becomes
  ``raise NotImplementedError("<function>(<inputs>): <inputs and outputs, with shapes>; see
  chapter N, eq. (N.M)")``; the text comes from ``course_lib.grading.TASKS``, the equation's
  number from its label in the chapter, counted as Jupyter Book numbers it;
* the chapters' exercise solutions (``:::{solution}`` cells and the code cells that check them)
  and the "Solutions" section are removed;
* ``course_lib/grading.py`` says ``EDITION = "student"``, so that the chapters grade instead
  of asserting, and ``ASSIGNMENT.md`` tells the student what to do;
* the generator itself and its tests are left out (they need the solutions).

The same module gives the tests the regions (:func:`regions`), the inverse operation
(:func:`restore`) and the equation numbers (:func:`equation_numbers`).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from course_lib.show import SOLUTION_MARKERS  # the lines show() leaves out

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = SOLUTION_MARKERS
# Files of the course that are not part of the edition: they need the solutions.
NOT_IN_EDITION = ("scripts/make_assignment.py", "tests/test_make_assignment.py",
                  "tests/wrong_answers.py", "tests/test_wrong_answers.py")
SOLUTIONS_SENTENCE = "The solutions are in the last section of the chapter, each with the code " \
                     "that checks it."
NO_SOLUTIONS_SENTENCE = "The solutions are not part of this edition of the course."


@dataclass(frozen=True)
class Region:
    """Lines ``begin``-``end`` (0-based, the marker lines included) of a file, inside the
    function ``function`` (its qualified name)."""

    function: str
    begin: int
    end: int
    indent: str


def regions(text: str) -> list[Region]:
    """The solution regions of a Python source, each with the function that holds it."""
    lines = text.splitlines()
    spans, start = [], None
    for i, line in enumerate(lines):
        if line.strip() == BEGIN:
            if start is not None:
                raise ValueError(f"line {i + 1}: {BEGIN} inside a region")
            start = i
        elif line.strip() == END:
            if start is None:
                raise ValueError(f"line {i + 1}: {END} without {BEGIN}")
            spans.append((start, i))
            start = None
    if start is not None:
        raise ValueError(f"line {start + 1}: {BEGIN} never ends")
    if not spans:
        return []
    functions = list(_functions(ast.parse(text)))
    found = []
    for begin, end in spans:
        inside = [(name, node) for name, node in functions
                  if node.lineno - 1 < begin < node.end_lineno]
        if not inside:
            raise ValueError(f"line {begin + 1}: a solution region outside any function")
        name = max(inside, key=lambda item: item[1].lineno)[0]  # the innermost function
        indent = lines[begin][:len(lines[begin]) - len(lines[begin].lstrip())]
        found.append(Region(name, begin, end, indent))
    return found


def _functions(tree, prefix=""):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = prefix + node.name
            if not isinstance(node, ast.ClassDef):
                yield name, node
            yield from _functions(node, name + ".")


# -- equation numbers ----------------------------------------------------------------------------

_LABELLED_EQUATION = re.compile(r"^\$\$\s*\((eq-[^)\s]+)\)\s*$", re.MULTILINE)


def chapter_numbers(root: Path = ROOT) -> dict[str, int]:
    """``{"02_backprop": 2, ...}``: the numbered chapters in the order of ``_toc.yml``, counted
    across its parts, as Jupyter Book numbers them."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [Path(ch["file"]).name for part in toc.get("parts", []) if part.get("numbered")
             for ch in part.get("chapters", [])]
    return {name: i for i, name in enumerate(files, start=1)}


def equation_numbers(root: Path = ROOT) -> dict[str, str]:
    """``{label: "2.7"}``: every labelled display equation (``$$ ... $$ (label)``) of the
    notebook chapters, numbered in order within its chapter, as the built book numbers them."""
    numbers = {}
    for chapter, n in chapter_numbers(root).items():
        path = root / "chapters" / f"{chapter}.ipynb"
        if not path.exists():
            continue
        text = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                         if c["cell_type"] == "markdown")
        for i, label in enumerate(_LABELLED_EQUATION.findall(text), start=1):
            if label in numbers:
                raise ValueError(f"equation label {label} is used twice")
            numbers[label] = f"{n}.{i}"
    return numbers


def message(task, numbers: dict[str, str]) -> str:
    """The stub's message: the function and its inputs and outputs, and the equations."""
    import inspect

    missing = [label for label in task.labels if label not in numbers]
    if missing:
        raise ValueError(f"{task.name}: no chapter has an equation labelled {missing}")
    params = [p for p in inspect.signature(task.function).parameters if p not in ("self", "ctx")]
    return f"{task.name}({', '.join(params)}): {task.what}; see {references(task, numbers)}"


def references(task, numbers: dict[str, str]) -> str:
    """``chapter 2, eq. (2.7) `eq-x```, or ``chapter 5, eqs. (5.5) `eq-a`, (5.6) `eq-b` and
    (5.10) `eq-c```: the number as the built book shows it, the label as the notebook does."""
    refs = [numbers[label] for label in task.labels]
    chapters = {ref.split(".")[0] for ref in refs}
    eqs = [f"({ref}) `{label}`" for ref, label in zip(refs, task.labels)]
    listed = eqs[0] if len(eqs) == 1 else ", ".join(eqs[:-1]) + " and " + eqs[-1]
    where = f"chapter {chapters.pop()}, " if len(chapters) == 1 else ""
    return f"{where}{'eq.' if len(eqs) == 1 else 'eqs.'} {listed}"


# -- the edition ---------------------------------------------------------------------------------

def stub(text: str, messages: dict[str, str], path: str = "") -> str:
    """``text`` with each solution region replaced by its function's ``raise``."""
    lines = text.splitlines(keepends=True)
    for region in reversed(regions(text)):
        if region.function not in messages:
            raise ValueError(f"{path}: the solution region of {region.function} has no task in "
                             "course_lib.grading.TASKS")
        lines[region.begin:region.end + 1] = [
            _raise(messages[region.function], region.indent) + "\n"]
    return "".join(lines)


def _raise(msg: str, indent: str, width: int = 99) -> str:
    """``raise NotImplementedError(msg)``, the message split into implicitly joined pieces
    where the line would be longer than ``width``."""
    first = f"{indent}raise NotImplementedError("
    if len(first) + len(_escape(msg)) + 3 <= width:
        return f'{first}"{_escape(msg)}")'
    pieces = textwrap.wrap(msg, width=width - len(indent) - 8, drop_whitespace=False,
                           break_long_words=False, break_on_hyphens=False)
    body = [f'{indent}    "{_escape(p)}"' for p in pieces]
    return first + "\n" + "\n".join(body) + ")"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def restore(edition: str, reference: str) -> str:
    """The inverse of :func:`stub`: ``edition`` with each stub replaced by the reference's
    region (markers included). Used by the round-trip test."""
    ref_lines = reference.splitlines(keepends=True)
    out = edition
    for region in regions(reference):
        solution = "".join(ref_lines[region.begin:region.end + 1])
        tree = ast.parse(out)
        node = dict(_functions(tree))[region.function]
        lines = out.splitlines(keepends=True)
        raise_node = next(n for n in ast.walk(node) if isinstance(n, ast.Raise)
                          and getattr(getattr(n.exc, "func", None), "id", "")
                          == "NotImplementedError")
        lines[raise_node.lineno - 1:raise_node.end_lineno] = [solution]
        out = "".join(lines)
    return out


def strip_solutions(nb: dict) -> dict:
    """A chapter without its exercise solutions: the ``:::{solution}`` cells, the code cells
    that check them, and the "Solutions" heading."""
    cells, dropping = [], False
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            # a solution, or the section's heading: dropped, with the code cells after it
            dropping = (src.lstrip().startswith(":::{solution}") or cell.get("id") == "solutions"
                        or src.startswith("## Solutions"))
            if dropping:
                continue
            if SOLUTIONS_SENTENCE in src:
                cell = {**cell, "source": _lines(src.replace(SOLUTIONS_SENTENCE,
                                                             NO_SOLUTIONS_SENTENCE))}
        elif dropping:
            continue
        cells.append(cell)
    return {**nb, "cells": cells}


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def course_files(root: Path = ROOT) -> list[str]:
    """The files of the course: those git tracks, and new ones it does not ignore."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=root, check=True, capture_output=True).stdout.decode()
    return sorted(f for f in out.split("\0") if f and (root / f).is_file())


def make(out: Path, root: Path = ROOT) -> list[str]:
    """Write the edition into ``out`` (which must not exist, or be empty); returns its files."""
    sys.path.insert(0, str(root))
    try:
        from course_lib import grading
    finally:
        sys.path.remove(str(root))
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty")
    numbers = equation_numbers(root)
    by_module: dict[str, dict[str, str]] = {}
    for task in grading.TASKS:
        by_module.setdefault(f"course_lib/{task.module}.py", {})[task.name] = \
            message(task, numbers)
    written, stubbed = [], set()
    for rel in course_files(root):
        if rel in NOT_IN_EDITION:
            continue
        src, dst = root / rel, out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".py") and (found := {r.function for r in regions(src.read_text())}):
            text = src.read_text()
            expected = set(by_module.get(rel, {}))
            if found != expected:
                raise ValueError(f"{rel}: solution regions {sorted(found)} but tasks "
                                 f"{sorted(expected)} in course_lib.grading.TASKS")
            dst.write_text(stub(text, by_module.get(rel, {}), rel))
            stubbed.add(rel)
        elif rel == "course_lib/grading.py":
            text = src.read_text()
            assert text.count('\nEDITION = "reference"') == 1, "grading.EDITION not found"
            dst.write_text(text.replace('\nEDITION = "reference"', '\nEDITION = "student"'))
        elif rel.startswith("chapters/") and rel.endswith(".ipynb"):
            nb = strip_solutions(json.loads(src.read_text()))
            dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        else:
            shutil.copy2(src, dst)
        written.append(rel)
    unstubbed = set(by_module) - stubbed
    if unstubbed:
        raise ValueError(f"tasks without a solution region in {sorted(unstubbed)}")
    (out / "ASSIGNMENT.md").write_text(assignment_text(grading.TASKS, numbers, root))
    return written + ["ASSIGNMENT.md"]


def assignment_text(tasks, numbers, root: Path = ROOT) -> str:
    by_chapter = {}
    for task in tasks:
        by_chapter.setdefault(task.chapter, []).append(task)
    n = chapter_numbers(root)
    parts = []
    for chapter, items in by_chapter.items():
        parts.append(f"\n### Chapter {n[chapter]} (`chapters/{chapter}.ipynb`)\n\n"
                     "| function | inputs and outputs | implements |\n|---|---|---|\n")
        for t in items:
            parts.append(f"| `course_lib/{t.module}.py`: `{t.name}` | {t.what} | "
                         f"{references(t, numbers)} |\n")
    return ASSIGNMENT.format(n_tasks=len(tasks), tasks="".join(parts))


ASSIGNMENT = """\
# The assignment: backpropagation by hand

This is the assignment edition of the course. The book's chapters derive every backward pass;
in this copy, the library that the chapters train with, `course_lib/`, is missing the
{n_tasks} functions listed below. Each of them raises `NotImplementedError` with a message
that says what it takes, what it returns (with shapes), and which equation of which chapter
it implements. Your job: derive each one as the chapter does, and write it.

## What to do

1. Set up as the README says, then open the chapters in Jupyter (`jupyter lab chapters/`).
   Read chapter 2 first, then 5, then 6.
2. Write each function in place of its `raise NotImplementedError(...)` line (the tables
   below give the file of each). Keep its name and its parameters: they are those of the
   original (UvA 2019) assignment's template, and the grader checks them. Keep the
   validation lines above your part (shape checks) as they are, and do not change a
   function's arguments in place (work on copies, return new arrays): the grader checks it.
3. Check your work, as often as you like:
   - **In the chapters.** Chapters 2, 5 and 6 run to the end whatever you have written so
     far. Each derivation check prints, for its function, "not implemented yet", "WRONG"
     with the reason (the relative error, or what failed), or "correct". A correct gradient
     has a relative error far below 1e-7; a wrong formula usually gives an error of order 1,
     but a subtle mistake (an unbiased variance, a forgotten epsilon) can give 1e-2 or less:
     read the verdict, not the size. Near the end of each of these chapters, "Every function
     of this chapter, checked on its own" prints one line per function, as the grader does.
     Where a notebook shows an equation's label (`eq-softmax-vjp`), the stubs and tables
     give its number in the built book too: "eq. (2.10) `eq-softmax-vjp`".
   - **The grader.** `pytest tests/test_assignment.py` (or `python scripts/grade.py`) prints
     one row for each of the {n_tasks} functions, always: implemented or not, whether it
     passes its check (against PyTorch's result or autograd's gradient, on inputs chosen to
     catch the usual mistakes, naming what differs), and whether it keeps the template's
     interface. Each function is checked in a process of its own: one that hangs is stopped
     after 60 seconds, one that exits or does not import is reported, and the others are
     graded all the same. A backward pass whose check fails while its forward pass is wrong
     says "depends on" the forward pass: fix that first. The grader passes (exit code 0)
     once every function is correct; this is the test you must pass.
   - **The course's other tests.** `tests/test_numpy_modules.py`, `tests/test_layers.py`,
     `tests/test_batchnorm.py` and `tests/test_optim.py` call your functions too and give
     more checks (error messages, dtypes, running statistics); they are not part of the
     grade, and a few of them look at details of the reference solution that the stubs
     leave to you (such as the names of the attributes a forward pass keeps).
4. The training chapters 3 and 4 need your functions: until the ones they use are written,
   they stop at their first cell with one message naming the missing ones. Chapter 6's
   whole-network checks say which functions they still need and are skipped; the rest of
   the chapter goes on. Once they run, they train the networks of the report with *your*
   code.

The exercises at the end of each chapter are yours too; their solutions are not part of this
edition.

## The functions
{tasks}
"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to write the edition into")
    args = parser.parse_args(argv)
    files = make(args.out)
    print(f"wrote {len(files)} files into {args.out}; the student starts with "
          f"{args.out / 'ASSIGNMENT.md'}")


if __name__ == "__main__":
    main()
