"""The chapter template of CONTRIBUTING.md builds as a page of a Jupyter Book, and its records go
to a temporary folder of its own, never over a chapter's."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_chapter_template_builds_in_a_book(tmp_path):
    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    shutil.copy(REPO / "chapters" / "_template.ipynb", book / "chapters" / "new.ipynb")
    shutil.copy(REPO / "references.bib", book)
    shutil.copy(REPO / "chapters" / "bibliography.md", book / "chapters")
    (book / "_vendor").symlink_to(REPO / "_vendor")  # MathJax, fetched by scripts/setup.sh
    shutil.copytree(REPO / "_ext", book / "_ext")  # the book's Sphinx extension (_config.yml)
    config = (REPO / "_config.yml").read_text()
    (book / "_config.yml").write_text(config)
    (book / "_toc.yml").write_text("format: jb-book\nroot: chapters/new\n"
                                   "chapters:\n  - file: chapters/bibliography\n")
    results = tmp_path / "results"  # where the book's chapters write their records
    env = dict(os.environ, COURSE_PROFILE="smoke", COURSE_RESULTS=str(results))
    jb = Path(sys.executable).parent / "jupyter-book"
    out = subprocess.run([str(jb), "build", str(book), "-W", "-n", "--builder", "html"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    page = (book / "_build" / "html" / "chapters" / "new.html").read_text()
    assert "Chapter title" in page and "final test accuracy over 2 seeds" in page
    assert "dL/dW of the linear layer: relative error" in page
    assert not list(results.glob("*/*.json"))  # the template trained, but wrote elsewhere
