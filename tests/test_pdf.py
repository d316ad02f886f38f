"""The PDF of the book (``scripts/build_pdf.sh``): complete, with its maths typeset.

Runs after the PDF is built (``.ci/run`` does ``PDF_BUILT=1 pytest tests/test_pdf.py``); a
plain ``pytest`` run skips it ("PDF not built"). It reads ``_build/pdf/book.pdf`` (or
``$BOOK_PDF``) with poppler-utils (``pdfinfo``, ``pdftotext``, ``pdfimages``; Debian's
``poppler-utils``) and compares it with the built HTML book (``_build/html``) and
``_toc.yml``, so a chapter or figure added to the book is checked without editing this file:

- every page is A4 or Letter, and the file is small enough to download (under 30 MB);
- the title page names the profile and the commit of the executed pages, and says what the
  PDF leaves out;
- every chapter of ``_toc.yml`` is there under its number and title as the HTML book shows
  them, the errata and the bibliography included, and the contents link to each (a named
  destination of the PDF, in ``_toc.yml`` order);
- every numbered figure of the HTML book is there under its number, and the PDF holds at
  least as many images as the HTML chapters show;
- MathJax typeset the maths: no raw TeX (``\\frac``, ``\\partial``, ``$$``, ...) is left in
  the text (an unreachable ``mathjax_path`` fails this);
- what only works on screen is not printed: navigation, search, buttons, cell toggles, and
  the solutions of the exercises (the title page says they are left out).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PDF = Path(os.environ.get("BOOK_PDF") or ROOT / "_build" / "pdf" / "book.pdf").resolve()
HTML = ROOT / "_build" / "html"
MAX_BYTES = 30 * 2**20
#: Page sizes in PostScript points (A4 and US Letter), either orientation.
PAGE_SIZES = {"A4": (595.28, 841.89), "Letter": (612.0, 792.0)}
RAW_TEX = ("\\frac", "\\partial", "$$", "\\begin{", "\\mathbb", "\\sum", "\\[", "\\(")
#: Text of screen-only parts of a page: the skip link, search, the theme's buttons, the
#: toggles of hidden cells and of the solutions.
SCREEN_ONLY = ("Skip to main content", "Ctrl+K", "Search this book", "Show code cell",
               "Hide code cell", "Back to top", "Print to PDF", "Solution to Exercise")


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _flat(text: str) -> str:
    """Whitespace collapsed, hyphenation at line ends and soft hyphens undone."""
    text = text.replace("\u00ad", "").replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def pdf() -> Path:
    if not os.environ.get("PDF_BUILT"):
        pytest.skip("PDF not built: run scripts/build_book.sh and scripts/build_pdf.sh, then "
                    "PDF_BUILT=1 pytest tests/test_pdf.py (as .ci/run does)")
    for tool in ("pdfinfo", "pdftotext", "pdfimages"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} missing: apt-get install poppler-utils")
    assert PDF.is_file(), f"PDF_BUILT is set but there is no {PDF} (scripts/build_pdf.sh)"
    assert (HTML / "index.html").is_file(), f"no HTML book in {HTML} to compare the PDF with"
    return PDF


@pytest.fixture(scope="module")
def text(pdf) -> str:
    return _flat(_run("pdftotext", "-enc", "UTF-8", str(pdf), "-"))


@pytest.fixture(scope="module")
def body(pdf) -> str:
    """The text after the title page (whose contents name every chapter too)."""
    return _flat(_run("pdftotext", "-enc", "UTF-8", "-f", "2", str(pdf), "-"))


@pytest.fixture(scope="module")
def info(pdf) -> str:
    return _run("pdfinfo", "-f", "1", "-l", "100000", str(pdf))


def toc_files() -> list[str]:
    """The book's pages in ``_toc.yml`` order (root first)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []) + entry.get("chapters", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return [re.sub(r"\.(md|ipynb)$", "", f) for f in files]


def _main(page: str):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((HTML / f"{page}.html").read_text(encoding="utf-8"), "html.parser")
    main = soup.find("main") or soup
    for junk in main.select("a.headerlink, script, style"):
        junk.decompose()
    return main


def html_titles() -> dict[str, str]:
    """Each page's title as the HTML book's navigation shows it, with its number
    (``3. An MLP in NumPy``)."""
    from bs4 import BeautifulSoup

    root = toc_files()[0]
    soup = BeautifulSoup((HTML / f"{root}.html").read_text(encoding="utf-8"), "html.parser")
    nav = {a["href"].split("#")[0]: _flat(a.get_text(" "))
           for a in soup.select("nav.bd-docs-nav a.reference.internal")}
    return {page: nav.get(f"{page}.html") or _flat(_main(page).find("h1").get_text(" "))
            for page in toc_files()}


def html_figures() -> dict[str, list[tuple[str, str]]]:
    """Each page's numbered figures: ``(number, caption)``, as the HTML book shows them."""
    figures = {}
    for page in toc_files():
        figures[page] = [(_flat(f.select_one(".caption-number").get_text(" ")),
                          _flat(f.select_one(".caption-text").get_text(" ")))
                         for f in _main(page).find_all("figure")
                         if f.select_one("figcaption .caption-number")]
    return figures


def test_page_size_and_file_size(pdf, info):
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert sizes, f"pdfinfo gave no page sizes:\n{info}"
    wrong = set()
    for w, h in {(float(w), float(h)) for w, h in sizes}:
        if not any(abs(min(w, h) - a) < 2 and abs(max(w, h) - b) < 2
                   for a, b in PAGE_SIZES.values()):
            wrong.add((w, h))
    assert not wrong, f"pages neither A4 nor Letter: {sorted(wrong)} pts"
    assert pdf.stat().st_size < MAX_BYTES, \
        f"{pdf} is {pdf.stat().st_size / 2**20:.1f} MB (limit {MAX_BYTES / 2**20:.0f} MB)"


def test_title_page_names_profile_commit_and_what_is_left_out(pdf):
    from course_lib.profiles import PROFILES, active_profile

    first = _flat(_run("pdftotext", "-enc", "UTF-8", "-f", "1", "-l", "1", str(pdf), "-"))
    title = yaml.safe_load((ROOT / "_config.yml").read_text())["title"]
    assert _flat(title) in first, f"no book title on the first page: {first[:300]!r}"
    m = re.search(r"Profile (\w+)", first)
    assert m and m.group(1) in PROFILES, f"no profile on the title page: {first[:600]!r}"
    if os.environ.get("COURSE_PROFILE"):
        assert m.group(1) == active_profile(), \
            f"the title page says profile {m.group(1)}, the build ran {active_profile()}"
    m = re.search(r"Commit ([0-9a-f]{7,40})", first)
    assert m, f"no commit on the title page: {first[:600]!r}"
    head = _run("git", "-C", str(ROOT), "rev-parse", "HEAD").strip()
    assert head.startswith(m.group(1)), (
        f"the title page names commit {m.group(1)}, HEAD is {head}: the chapters were executed "
        "at another commit (rebuild the book, then the PDF)")
    assert "solutions of the exercises are left out" in first, first[:800]


def test_every_chapter_is_there_with_its_number(body):
    titles = html_titles()
    assert sum(bool(re.match(r"\d+\. ", t)) for t in titles.values()) >= 2, titles
    missing = [f"{page}: {title!r}" for page, title in titles.items() if title not in body]
    assert not missing, "chapters missing from the PDF (title as in the HTML book):\n" + \
        "\n".join(missing)


def test_every_numbered_figure_is_there(pdf, body):
    figures = html_figures()
    assert any(figures.values()), "the HTML book has no numbered figures"
    missing = [f"{page}: {number} {caption[:60]!r}"
               for page, figs in figures.items() for number, caption in figs
               if f"{number} {caption[:40]}" not in body]
    assert not missing, "figures missing from the PDF (number and caption as in the HTML):\n" \
        + "\n".join(missing)
    images = [line for line in _run("pdfimages", "-list", str(pdf)).splitlines()[2:]
              if line.split()[2] == "image"]
    shown = sum(len(_main(page).find_all("img")) for page in toc_files())
    assert len(images) >= shown, \
        f"the HTML book shows {shown} images, the PDF holds {len(images)}"


def test_no_raw_tex_left(text):
    found = {raw: text.index(raw) for raw in RAW_TEX if raw in text}
    assert not found, "raw TeX in the PDF (MathJax did not typeset it):\n" + "\n".join(
        f"{raw!r}: ...{text[max(0, i - 80):i + 80]}..." for raw, i in found.items())


def test_screen_only_parts_are_not_printed(text):
    printed = [s for s in SCREEN_ONLY if s in text]
    assert not printed, f"screen-only text printed: {printed}"


# The extension that makes the PDF's page (_ext/book_pdf.py), on a two-page book of its own ----
NOTEBOOK = """{"cells": [
 {"cell_type": "markdown", "id": "c1", "metadata": {},
  "source": ["# Second chapter\\n", "\\n", "Text."]},
 {"cell_type": "code", "execution_count": 1, "id": "c2", "metadata": {"tags": ["hide-cell"]},
  "outputs": [{"name": "stdout", "output_type": "stream", "text": ["set up\\n"]}],
  "source": ["print('set up')"]}],
 "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
              "language_info": {"name": "python"}},
 "nbformat": 4, "nbformat_minor": 5}
"""


def _tiny_book(tmp_path: Path, builder: str, out: str) -> Path:
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    if not src.exists():
        src.mkdir()
        (src / "conf.py").write_text(
            "import sys\n"
            f"sys.path.insert(0, {str(ROOT / '_ext')!r})\n"
            "project = 'A tiny book'\nhtml_title = 'A tiny book'\n"
            "extensions = ['myst_nb', 'sphinx_exercise', 'book_pdf']\n"
            "html_theme = 'sphinx_book_theme'\n"
            "nb_execution_mode = 'off'\n")
        (src / "index.md").write_text("# Intro\n\n```{toctree}\n:numbered:\n:caption: Part one"
                                      "\n\none\ntwo\n```\n")
        (src / "one.md").write_text("# First chapter\n\nText.\n")
        (src / "two.ipynb").write_text(NOTEBOOK)
    app = Sphinx(str(src), str(src), str(tmp_path / out), str(tmp_path / "doctrees"), builder,
                 status=None, warning=None, freshenv=False)
    app.build()
    assert app.statuscode == 0
    return tmp_path / out


def test_single_page_has_title_page_contents_and_hidden_cells(tmp_path):
    """singlehtml, after html on the same doctrees: the title page with the profile, commit
    and numbered contents; a hide-cell cell does not fail the build (myst-nb registers its
    visitor for "html" only, and sphinx-exercise's "singlehtml" visitors stop Sphinx from
    falling back on those); every page's download menu links book.pdf."""
    from bs4 import BeautifulSoup

    html = _tiny_book(tmp_path, "html", "html")
    soup = BeautifulSoup((html / "two.html").read_text(), "html.parser")
    link = soup.select_one("a.btn-download-book-pdf-button")
    assert link is not None and link["href"] == "book.pdf"

    single = _tiny_book(tmp_path, "singlehtml", "singlehtml")
    soup = BeautifulSoup((single / "index.html").read_text(), "html.parser")
    title = soup.select_one("#book-pdf-title")
    assert title is not None, "no title page"
    text = _flat(title.get_text(" "))
    assert "A tiny book" in text
    assert re.search(r"Profile (paper|cpu|smoke) ", text), text
    assert re.search(r"Commit \S+", text), text
    contents = [_flat(a.get_text(" ")) for a in title.select("nav a")]
    assert contents == ["1 First chapter", "2 Second chapter"], contents
    assert [a["href"] for a in title.select("nav a")] == ["#document-one", "#document-two"]
    assert soup.find(id="document-two") is not None
    assert "details" in str(soup.select_one("div.cell")), "the hidden cell's toggle is missing"


def test_contents_link_to_every_chapter_in_order(pdf):
    """The title page's contents link to ``#document-<page>``: each is a named destination
    of the PDF (Chromium keeps the page's anchors), on pages in ``_toc.yml`` order."""
    dests = {}
    for line in _run("pdfinfo", "-dests", str(pdf)).splitlines():
        m = re.match(r'\s*(\d+) \[.*\] "document-(.+)"$', line)
        if m:
            dests[m.group(2)] = int(m.group(1))
    chapters = toc_files()[1:]
    missing = [page for page in chapters if page not in dests]
    assert not missing, f"no PDF destination for {missing} (found {sorted(dests)})"
    pages = [dests[page] for page in chapters]
    assert pages == sorted(pages) and pages[0] > 1, dict(zip(chapters, pages))
