"""Every equation label that the library or a chapter cites exists in the book.

A docstring shown in a chapter cites equations as ``[eq-label]``; a chapter cites them with the
``{eq}`` role. Sphinx catches a broken ``{eq}`` only when the book is built, and nothing catches
a docstring's: this test reads the sources directly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = sorted((ROOT / "chapters").glob("[0-9]*.ipynb")) + sorted((ROOT / "chapters").glob("*.md"))
LIBRARY = sorted((ROOT / "course_lib").glob("*.py"))

LABEL = r"eq-[A-Za-z0-9-]+"
DEFINED = [  # the ways MyST lets a chapter name an equation
    re.compile(rf"\$\$\s*\(({LABEL})\)"),          # $$ ... $$ (eq-x)
    re.compile(rf"^\(({LABEL})\)=\s*$", re.M),    # (eq-x)= before a block
    re.compile(rf":label:\s*({LABEL})"),           # ```{math} / :label: eq-x
    re.compile(rf"\\label\{{({LABEL})\}}"),         # \label{eq-x} inside amsmath
]
CITED_BOOK = re.compile(rf"\{{eq\}}`(?:[^`<]*<)?({LABEL})>?`")
CITED_LIBRARY = re.compile(rf"\[({LABEL})\]")


def _text(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n".join("".join(c["source"]) for c in cells)
    return path.read_text()


def defined_labels() -> set[str]:
    return {m for p in BOOK for rx in DEFINED for m in rx.findall(_text(p))}


def test_labels_are_found():
    labels = defined_labels()
    # the parser recognises the book's equations (guards against a regex that finds nothing)
    assert {"eq-central-difference", "eq-minibatch-loss", "eq-bn-dx"} <= labels


def test_every_eq_reference_in_a_chapter_exists():
    labels = defined_labels()
    cited = {(p.name, m) for p in BOOK for m in CITED_BOOK.findall(_text(p))}
    assert cited, "expected the chapters to cite equations with {eq}"
    missing = sorted((f, m) for f, m in cited if m not in labels)
    assert not missing, f"{{eq}} references to labels that no chapter defines: {sorted(missing)}"


def test_every_label_a_docstring_cites_exists():
    labels = defined_labels()
    cited = {(p.name, m) for p in LIBRARY for m in CITED_LIBRARY.findall(p.read_text())}
    assert cited, "expected course_lib to cite equations as [eq-label]"
    missing = sorted((f, m) for f, m in cited if m not in labels)
    assert not missing, f"course_lib cites equation labels the book does not define: {missing}"
