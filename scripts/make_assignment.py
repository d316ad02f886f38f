"""Write the assignment edition of the course: ``python scripts/make_assignment.py OUT_DIR``.

The edition is a copy of the course as committed (every file git tracks at ``HEAD``; the
working tree and untracked files are never read) in which

* every region between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` in ``course_lib`` becomes
  ``raise NotImplementedError("<function>(<inputs>): <inputs and outputs, with shapes>; see
  chapter N, eq. (N.M)")``; the text comes from ``course_lib.grading.TASKS``, the equation's
  number from its label in the chapter, counted as Jupyter Book numbers it;
* the chapters' exercise solutions (``:::{solution}`` cells and the code cells that check them)
  and the "Solutions" section are removed;
* ``course_lib/grading.py`` says ``EDITION = "student"``, so that the chapters grade instead
  of asserting, and ``ASSIGNMENT.md`` tells the student what to do;
* every notebook's outputs and execution counts are cleared (an executed chapter's
  ``show()`` outputs hold the reference code), and a notebook code cell with solution markers
  stops the generator (only ``course_lib``'s regions can be stubbed);
* the generator itself and its tests are left out (they need the solutions).

It is written into a temporary folder beside ``OUT`` and renamed to ``OUT`` only when
complete, so a failure leaves nothing behind; every error is one line that names the file
(and line) at fault.

The same module gives the tests the regions (:func:`regions`), the inverse operation
(:func:`restore`) and the equation numbers (:func:`equation_numbers`).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
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


class EditionError(ValueError):
    """What stops the generator, in one line naming the file (and line) at fault."""


def _at(path: str, line: int | None) -> str:
    """``path:line`` (or ``line N`` for a text without a path)."""
    return f"{path}:{line}" if path else f"line {line}"


@dataclass(frozen=True)
class Region:
    """Lines ``begin``-``end`` (0-based, the marker lines included) of a file, inside the
    function ``function`` (its qualified name)."""

    function: str
    begin: int
    end: int
    indent: str


def regions(text: str, path: str = "") -> list[Region]:
    """The solution regions of a Python source (the file ``path``, named in errors), each
    with the function that holds it."""
    lines = text.splitlines()
    spans, start = [], None
    for i, line in enumerate(lines):
        if line.strip() == BEGIN:
            if start is not None:
                raise EditionError(f"{_at(path, i + 1)}: {BEGIN} inside a region")
            start = i
        elif line.strip() == END:
            if start is None:
                raise EditionError(f"{_at(path, i + 1)}: {END} without {BEGIN}")
            spans.append((start, i))
            start = None
    if start is not None:
        raise EditionError(f"{_at(path, start + 1)}: {BEGIN} never ends")
    if not spans:
        return []
    try:
        functions = list(_functions(ast.parse(text)))
    except SyntaxError as err:
        raise EditionError(f"{_at(path, err.lineno)}: {err.msg}") from None
    found = []
    for begin, end in spans:
        inside = [(name, node) for name, node in functions
                  if node.lineno - 1 < begin < node.end_lineno]
        if not inside:
            raise EditionError(f"{_at(path, begin + 1)}: a solution region outside any "
                               "function")
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
    for region in reversed(regions(text, path)):
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


def _git(root: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True).stdout


def check_repository(root: Path = ROOT) -> None:
    """``root`` must be the top of a git repository with a commit: the edition is made from
    what git tracks at ``HEAD`` (never from a parent folder's repository)."""
    try:
        top = _git(root, "rev-parse", "--show-toplevel").decode().strip()
        _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except (OSError, subprocess.CalledProcessError):
        top = None
    if top is None or Path(top).resolve() != root.resolve():
        raise EditionError(f"{root} is not a git repository with a commit (no .git there): the "
                           "edition is made from the files git tracks at HEAD; clone the course "
                           "with git")


def course_files(root: Path = ROOT) -> list[str]:
    """The files of the course: those git tracks at ``HEAD`` (not the working tree's
    untracked or modified files)."""
    out = _git(root, "ls-tree", "-r", "-z", "HEAD").decode()
    # "<mode> blob <sha>\t<path>": regular files only (no symbolic links, no submodules)
    return sorted(entry.split("\t", 1)[1] for entry in out.split("\0")
                  if entry.startswith(("100644 blob", "100755 blob")))


def snapshot(root: Path, dest: Path) -> Path:
    """The course as committed at ``HEAD`` (``git archive``), written into ``dest``."""
    with tempfile.TemporaryFile() as tar:
        subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=root, check=True,
                       stdout=tar, stderr=subprocess.PIPE)
        tar.seek(0)
        with tarfile.open(fileobj=tar) as archive:
            archive.extractall(dest, filter="data")
    return dest


def clear_outputs(text: str, path: str) -> str:
    """A notebook without outputs and execution counts (nbconvert's ClearOutputPreprocessor);
    a code cell with solution markers is refused: only course_lib's regions become stubs."""
    import nbformat
    from nbconvert.preprocessors import ClearOutputPreprocessor

    try:
        nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    except Exception as err:  # nbformat raises several kinds on a damaged file
        raise EditionError(f"{path}: not a notebook ({type(err).__name__}: {err})") from None
    for i, cell in enumerate(nb.cells, start=1):
        for n, line in enumerate(cell.source.splitlines(), start=1):
            if cell.cell_type == "code" and line.strip() in SOLUTION_MARKERS:
                raise EditionError(
                    f"{path}: cell {i} (id {cell.get('id', '?')}), line {n}: {line.strip()} in "
                    "a notebook; a solution belongs in course_lib, between the markers, where "
                    "the edition stubs it")
    clear = ClearOutputPreprocessor(remove_metadata_fields={"collapsed", "scrolled", "execution"})
    nb, _ = clear.preprocess(nb, {})
    nb.metadata.pop("widgets", None)  # saved widget state holds outputs too
    return nbformat.writes(nb) + "\n"


def check_out(out: Path, root: Path = ROOT) -> Path:
    """``out`` made absolute, if the edition can go there: a new or empty folder, outside the
    course, whose parent can be written."""
    out = Path(os.path.abspath(out))
    if out.resolve().is_relative_to(root.resolve()):
        raise EditionError(f"{out} is inside the course ({root}); write the edition elsewhere, "
                           "e.g. ../edition")
    if out.is_file() or out.is_symlink() and not out.is_dir():
        raise EditionError(f"{out} is a file; the edition goes into a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        raise EditionError(f"{out} is not empty; the edition goes into a new or empty folder")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise EditionError(f"{parent} is a file, so {out} cannot be made below it")
    if not os.access(parent, os.W_OK | os.X_OK) or out.is_dir() and not os.access(out, os.W_OK):
        raise EditionError(f"{out if out.is_dir() else parent} is read-only; choose a folder "
                           "you can write")
    return out


def make(out: Path, root: Path = ROOT) -> list[str]:
    """Write the edition into ``out`` (which must not exist, or be empty); returns its files.
    It is written into a temporary folder beside ``out``, renamed to ``out`` when complete."""
    out = check_out(out, root)
    check_repository(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory() as committed:
            written = write(partial, snapshot(root, Path(committed)), root)
        umask = os.umask(0)
        os.umask(umask)
        partial.chmod(0o777 & ~umask)  # mkdtemp's folder is private
        os.replace(partial, out)  # an empty out is replaced, a new one appears whole
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return written


def write(out: Path, source: Path, root: Path = ROOT) -> list[str]:
    """Write the edition of the committed course ``source`` into the empty folder ``out``
    (the tasks' messages come from ``root``'s ``course_lib.grading``)."""
    sys.path.insert(0, str(root))
    try:
        from course_lib import grading
    finally:
        sys.path.remove(str(root))
    numbers = equation_numbers(source)
    by_module: dict[str, dict[str, str]] = {}
    for task in grading.TASKS:
        by_module.setdefault(f"course_lib/{task.module}.py", {})[task.name] = \
            message(task, numbers)
    written, stubbed = [], set()
    for rel in course_files(root):
        if rel in NOT_IN_EDITION:
            continue
        src, dst = source / rel, out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".py") and (found := {r.function for r in regions(src.read_text(), rel)}):
            text = src.read_text()
            expected = set(by_module.get(rel, {}))
            if found != expected:
                raise EditionError(f"{rel}: solution regions {sorted(found)} but tasks "
                                   f"{sorted(expected)} in course_lib.grading.TASKS")
            dst.write_text(stub(text, by_module.get(rel, {}), rel))
            stubbed.add(rel)
        elif rel == "course_lib/grading.py":
            text = src.read_text()
            if text.count('\nEDITION = "reference"') != 1:
                raise EditionError(f'{rel}: no line EDITION = "reference" to switch')
            dst.write_text(text.replace('\nEDITION = "reference"', '\nEDITION = "student"'))
        elif rel.endswith(".ipynb"):
            text = clear_outputs(src.read_text(), rel)
            if rel.startswith("chapters/"):
                nb = strip_solutions(json.loads(text))
                text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
            dst.write_text(text)
        else:
            shutil.copy2(src, dst)
        written.append(rel)
    unstubbed = set(by_module) - stubbed
    if unstubbed:
        raise EditionError(f"tasks without a solution region in {sorted(unstubbed)}")
    (out / "ASSIGNMENT.md").write_text(assignment_text(grading.TASKS, numbers, source))
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


def main(argv=None, root: Path = ROOT) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to write the edition into")
    args = parser.parse_args(argv)
    try:
        files = make(args.out, root)
    except (ValueError, OSError, subprocess.CalledProcessError) as err:
        # ValueError: EditionError and the tasks' own checks; OSError names its file
        detail = getattr(err, "stderr", b"") or b""
        parser.exit(1, f"{parser.prog}: error: {err}"
                    f"{': ' + detail.decode().strip() if detail else ''}\n")
    print(f"wrote {len(files)} files into {args.out}; the student starts with "
          f"{args.out / 'ASSIGNMENT.md'}")


if __name__ == "__main__":
    main()
