"""CONTRIBUTING.md, followed literally: its steps work, read from its own code blocks.

In a copy of the repository (the files git knows, as they are in the working tree), the test
applies every step of "Adding an experiment and its chapter, step by step": each code block
that follows a ``<!-- guide: VERB ... -->`` comment is run, inserted, appended or put in a
chapter's cell as the comment says (the page's text says the same to a reader). ``NN``, the new
chapter's number, is the one rule 1 of the page gives: the number of the chapter before the
reproduction page, plus a letter. Then, in the copy:

- the experiment's chapter sorts before the reproduction page, in file-name order and in
  ``_toc.yml`` (rule 1), for every chapter of ``profiles.EXPERIMENTS``;
- the repository's own checks of the sources pass with the new chapter (``SHOWN``, ``show``
  cells, labels, figures, errata, clean notebooks, the set-up cell, the registry), the page's
  test of the runner passes, and ruff is clean on everything the steps touched;
- the new chapter builds as a page of a book with ``jupyter-book build -W`` and runs under
  ``pytest --nbval`` (``smoke``);
- the record it writes names the data it trained on (the data's fingerprint), the device and
  the profile, and the reproduction page's list of records (``reproduction.provenance``)
  lists it.

A step removed from the page makes one of these fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "CONTRIBUTING.md"
MARKER = re.compile(r"^[ \t]*<!-- guide: (?P<args>.*?) -->[ \t]*$", re.M)
FENCE = re.compile(r"[ \t]*\n(?P<indent>[ \t]*)```[a-z]*\n(?P<body>.*?)\n(?P=indent)```", re.S)
BIN = Path(sys.executable).parent
CHECKS = ["tests/test_dropout_sweep.py",
          "tests/test_jupyterlab.py::test_every_chapter_names_code_it_shows",
          "tests/test_jupyterlab.py::test_chapter_source_reads_in_notebooks",
          "tests/test_labels.py", "tests/test_errata.py", "tests/test_chapters_clean.py",
          "tests/test_profiles.py",
          "tests/test_publish.py::test_every_setup_cell_and_button_agrees_with_config",
          "tests/test_figures.py::"
          "test_every_figure_a_chapter_draws_is_named_captioned_and_has_alt_text",
          "tests/test_figures.py::test_every_figure_is_referenced_by_number"]


def steps(text: str) -> list[tuple[str, str | None]]:
    """``[(words, block)]``: each guide comment's words, and the code block right after it
    (dedented to the fence's indentation), or ``None`` for a step without one."""
    out = []
    for m in MARKER.finditer(text):
        fence, block = FENCE.match(text, m.end()), None
        if fence:
            indent = len(fence["indent"])
            block = "\n".join(line[indent:] for line in fence["body"].split("\n")) + "\n"
        out.append((m["args"], block))
    return out


def apply(words: str, block: str | None, repo: Path) -> None:
    """Do one step of the guide in ``repo``: ``shell``; ``new FILE``; ``append FILE``;
    ``insert FILE before|after TEXT`` (the first line that is TEXT, else the first that
    contains it); ``cell NOTEBOOK
    TEXT`` (the block replaces the code cell that begins with TEXT); ``delete-cell NOTEBOOK
    TEXT``."""
    verb, _, rest = words.partition(" ")
    if verb == "shell":
        subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=repo, check=True)
        return
    name, _, anchor = rest.partition(" ")
    path = repo / name
    if verb in ("new", "append"):
        old = path.read_text() if verb == "append" else ""
        path.write_text(old + ("\n\n" if old else "") + block)
    elif verb == "insert":
        where, _, anchor = anchor.partition(" ")
        lines = path.read_text().splitlines(keepends=True)
        i = next((i for i, line in enumerate(lines) if line.strip() == anchor), None)
        if i is None:
            i = next(i for i, line in enumerate(lines) if anchor in line)
        i += where == "after"
        lines[i:i] = [block]
        path.write_text("".join(lines))
    elif verb in ("cell", "delete-cell"):
        nb = json.loads(path.read_text())
        i = next(i for i, c in enumerate(nb["cells"])
                 if c["cell_type"] == "code" and "".join(c["source"]).startswith(anchor))
        if verb == "delete-cell":
            del nb["cells"][i]
        else:
            nb["cells"][i]["source"] = block.rstrip("\n").splitlines(keepends=True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    else:
        raise AssertionError(f"unknown guide step: {words}")


def copy_repo(target: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, files.split("\0")):
        src = ROOT / name
        if src.is_file() and not src.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / name)


def run(cmd: list[str], cwd: Path, env: dict, timeout: int = 600) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)}:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    return out.stdout


#: Run in the copy after the chapter ran: its record, and the reproduction page's list.
CHECK_RECORD = """
import sys
from course_lib import data, profiles, reproduction, results

results_dir = sys.argv[1]
record = results.load("dropout_sweep", "smoke", results_dir)
assert record is not None, "the chapter wrote no record where the reproduction page reads"
assert record.experiment == "dropout_sweep" and record.profile == "smoke"
assert record.device == profiles.default_device(), record.device
settings = profiles.settings("dropout_sweep", "smoke")
cifar = data.load_cifar10(train_size=settings.train_size, test_size=settings.test_size)
assert cifar.fingerprint and record.data == cifar.fingerprint, (record.data, cifar.fingerprint)
rows = reproduction.provenance("smoke", build_dir=results_dir)
row = rows[(rows.experiment == "dropout_sweep") & (rows.source == "this build")]
assert len(row) == 1 and row.iloc[0].data == record.data_label, rows
assert row.iloc[0].device.startswith(record.device) and row.iloc[0].profile == "smoke", row
print("record ok:", record.data_label, record.device, len(record.runs), "runs")
"""


def test_contributing_md_followed_literally_adds_a_chapter_and_an_experiment(tmp_path):
    repo, book = tmp_path / "repo", tmp_path / "book"
    copy_repo(repo)
    reproduction = [p.stem for p in (repo / "chapters").glob("[0-9]*_reproduction.ipynb")]
    assert len(reproduction) == 1, reproduction
    number = f"{int(reproduction[0].split('_')[0]) - 1:02d}b"  # rule 1: before it, a letter
    chapter = f"{number}_dropout"
    guide = GUIDE.read_text().replace("NN_dropout", chapter)
    todo = steps(guide)
    assert len(todo) >= 10, todo  # guards against a marker format that finds nothing
    for words, block in todo:
        apply(words, block, repo)
    env = dict(os.environ, PYTHONPATH=str(repo), COURSE_PROFILE="smoke",
               COURSE_RESULTS=str(tmp_path / "results"), MPLBACKEND="Agg")
    env.pop("COURSE_LIB_URL", None)

    # Rule 1: every chapter that writes records comes before the reproduction page.
    toc = (repo / "_toc.yml").read_text()
    files = sorted(p.stem for p in (repo / "chapters").glob("[0-9]*.ipynb"))
    writers = run([sys.executable, "-c", "from course_lib import profiles; print(' '.join("
                   "sorted({e.chapter for e in profiles.EXPERIMENTS.values()})))"],
                  repo, env).split()
    assert chapter in writers
    for writer in writers:
        assert files.index(writer) < files.index(reproduction[0]), writer
        assert toc.index(f"chapters/{writer}\n") < toc.index(f"chapters/{reproduction[0]}\n")

    # The repository's own checks of the sources, and ruff, on the copy with the new chapter.
    changed = ["course_lib/profiles.py", "course_lib/torch_mlp.py", f"chapters/{chapter}.ipynb",
               "tests/test_dropout_sweep.py", "tests/test_jupyterlab.py"]
    run([str(BIN / "ruff"), "check", *changed], repo, env)
    run([sys.executable, "-m", "pytest", "-q", "-x", *CHECKS], repo, env)

    # The chapter as a page of a book, with -W (as tests/test_template.py builds the template).
    (book / "chapters").mkdir(parents=True)
    shutil.copy(repo / "chapters" / f"{chapter}.ipynb", book / "chapters")
    shutil.copy(repo / "chapters" / "bibliography.md", book / "chapters")
    for name in ("references.bib", "_config.yml"):
        shutil.copy(repo / name, book)
    shutil.copytree(repo / "_ext", book / "_ext")
    (book / "_vendor").symlink_to(ROOT / "_vendor")  # MathJax, fetched by scripts/setup.sh
    (book / "_toc.yml").write_text(f"format: jb-book\nroot: chapters/{chapter}\n"
                                   "chapters:\n  - file: chapters/bibliography\n")
    run([str(BIN / "jupyter-book"), "build", str(book), "-W", "-n", "--builder", "html"],
        tmp_path, dict(env, COURSE_RESULTS=str(tmp_path / "book-results")))
    page = (book / "_build" / "html" / "chapters" / f"{chapter}.html").read_text()
    assert "dL/dx of dropout: relative error" in page and "dropout 0.5: final" in page

    # The chapter under nbval, as scripts/test.sh runs every chapter, then its record.
    run([sys.executable, "-m", "pytest", "-q", "--nbval", f"chapters/{chapter}.ipynb"], repo, env)
    out = run([sys.executable, "-c", CHECK_RECORD, str(tmp_path / "results")], repo, env)
    assert "record ok" in out
