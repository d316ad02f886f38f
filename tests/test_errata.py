"""Every erratum box in a chapter is listed on the errata page, and every row there has its box.

An erratum box is an ``:::{admonition} Erratum: ...`` block in a chapter's markdown, preceded by
its MyST target ``(erratum-NAME)=``. ``chapters/errata.md`` lists the corrections in a table
whose rows each link one box (``{ref}`box <erratum-NAME>```). This test reads the files (no
build): a box that the page does not list, a row whose box does not exist, a box without its
target, or a target without its box all fail it. The checks are functions of the texts, so the
last tests can show that each direction of breakage is caught.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9]*.ipynb"))
ERRATA = ROOT / "chapters" / "errata.md"

LABEL = r"erratum-[A-Za-z0-9-]+"
TARGET = re.compile(rf"^\(({LABEL})\)=[ \t]*$", re.M)
BOX = re.compile(r"^(?::{3,}|`{3,})\{admonition\}[ \t]*Erratum\b", re.M)
# A target followed, after blank lines only, by an erratum box.
TARGETED_BOX = re.compile(rf"^\(({LABEL})\)=[ \t]*\n(?:[ \t]*\n)*"
                          r"(?::{3,}|`{3,})\{admonition\}[ \t]*Erratum\b", re.M)
REF = re.compile(rf"\{{ref\}}`(?:[^`<]*<)?({LABEL})>?`")


def markdown_of(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def boxes(texts: dict[str, str]) -> tuple[dict[str, list[str]], list[str]]:
    """``({label: [chapters defining it]}, [problems])`` for the erratum boxes of ``texts``."""
    found: dict[str, list[str]] = {}
    problems = []
    for name, text in texts.items():
        targeted = TARGETED_BOX.findall(text)
        for label in targeted:
            found.setdefault(label, []).append(name)
        untargeted = len(BOX.findall(text)) - len(targeted)
        if untargeted:
            problems.append(f"{name}: {untargeted} erratum box(es) without an (erratum-...)= "
                            "target right before them")
        for label in set(TARGET.findall(text)) - set(targeted):
            problems.append(f"{name}: target ({label})= is not followed by an erratum box")
    for label, where in found.items():
        if len(where) > 1:
            problems.append(f"({label})= is defined more than once: {where}")
    return found, problems


def table_rows(page: str) -> list[str]:
    """The body rows of the errata page's table (its header and separator skipped)."""
    rows = [line for line in page.splitlines() if line.lstrip().startswith("|")]
    return [r for r in rows[2:] if not re.fullmatch(r"[\s|:-]+", r)]


def check(texts: dict[str, str], page: str) -> list[str]:
    """Every problem between the chapters' boxes and the errata page; empty when they agree."""
    found, problems = boxes(texts)
    rows = table_rows(page)
    if not rows:
        problems.append("the errata page has no table rows")
    listed = []
    for row in rows:
        labels = REF.findall(row)
        if len(labels) != 1:
            problems.append(f"errata row links {len(labels)} boxes, not one: {row.strip()}")
        listed += labels
    for label in sorted(set(found) - set(listed)):
        problems.append(f"the box ({label})= of {found[label][0]} has no row on the errata page")
    for label in sorted(set(REF.findall(page)) - set(found)):
        problems.append(f"the errata page links {label}, which is no erratum box of a chapter")
    for label in sorted({x for x in listed if listed.count(x) > 1}):
        problems.append(f"the errata page lists {label} in more than one row")
    return problems


def book_texts() -> dict[str, str]:
    return {p.name: markdown_of(p) for p in CHAPTERS}


def test_the_chapters_have_erratum_boxes():
    found, _ = boxes(book_texts())
    assert len(found) >= 10, sorted(found)  # guards against patterns that find nothing


def test_every_box_is_on_the_errata_page_and_every_row_has_a_box():
    problems = check(book_texts(), ERRATA.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


# The check itself, on small texts: each way the two can disagree is caught.
BOX_TEXT = "(erratum-a)=\n\n:::{admonition} Erratum: a\n:class: warning\n\nText.\n\n:::\n"
PAGE = ("| Where | The error | Box |\n| --- | --- | --- |\n"
        "| Eq. (1) | a | {ref}`box <erratum-a>` |\n\n"
        "The box in its chapter: {ref}`Erratum: a <erratum-a>`.\n")


def test_check_accepts_agreeing_texts():
    assert check({"c.ipynb": BOX_TEXT}, PAGE) == []


def test_check_catches_a_box_missing_from_the_page():
    texts = {"c.ipynb": BOX_TEXT + "\n(erratum-b)=\n:::{admonition} Erratum: b\n:::\n"}
    assert any("erratum-b" in p and "no row" in p for p in check(texts, PAGE))


def test_check_catches_a_row_without_a_box():
    page = PAGE.replace("| Eq. (1) | a | {ref}`box <erratum-a>` |",
                        "| Eq. (1) | a | {ref}`box <erratum-a>` |\n"
                        "| Eq. (2) | b | {ref}`box <erratum-b>` |")
    problems = check({"c.ipynb": BOX_TEXT}, page)
    assert any("erratum-b" in p and "no erratum box" in p for p in problems)


def test_check_catches_a_box_without_target_and_a_target_without_box():
    texts = {"c.ipynb": BOX_TEXT + "\n:::{admonition} Erratum: c\n:::\n\n(erratum-d)=\n\nText.\n"}
    problems = check(texts, PAGE)
    assert any("without an (erratum-...)= target" in p for p in problems)
    assert any("erratum-d" in p and "not followed" in p for p in problems)


def test_check_catches_a_row_without_a_link():
    page = PAGE.replace("| Eq. (1) | a | {ref}`box <erratum-a>` |",
                        "| Eq. (1) | a | {ref}`box <erratum-a>` |\n| Eq. (2) | b | - |")
    assert any("links 0 boxes" in p for p in check({"c.ipynb": BOX_TEXT}, page))
