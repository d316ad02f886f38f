"""scripts/build_book_cached.py: which chapters re-execute, on a small fake book whose "build"
does what myst-nb's cache mode does (no Sphinx, no kernel: a chapter "executes" by writing its
records and caching its notebook in jupyter-cache)."""

import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import load_script
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn

from course_lib import profiles, results

ROOT = Path(__file__).resolve().parents[1]
bbc = load_script("build_book_cached")

# Real chapter names, so that the real writers (profiles.EXPERIMENTS) and READS apply:
# 01 writes and reads no records, 03 writes numpy_mlp, 04 writes three records and reads the
# committed ones, 07 reads everything.
CHAPTERS = ("01_cifar10", "03_numpy_mlp", "04_pytorch_mlp", "08_reproduction")
EVERY = set(CHAPTERS)
RECORDS = {"03_numpy_mlp", "04_pytorch_mlp", "08_reproduction"}  # write or read records


class Book:
    """A fake book in ``root``, built with :func:`bbc.rebuild` and a fake Sphinx."""

    def __init__(self, root: Path):
        self.root = root
        (root / "chapters").mkdir()
        toc = {"format": "jb-book", "root": "intro", "parts": [{"chapters": [
            {"file": f"chapters/{stem}"} for stem in reversed(CHAPTERS)] + [
            {"file": "chapters/errata"}]}]}
        (root / "_toc.yml").write_text(yaml.safe_dump(toc))
        (root / "chapters" / "errata.md").write_text("# Errata\n")
        for stem in CHAPTERS:
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {stem}"),
                                                 nbformat.v4.new_code_cell(f"x = {stem!r}")])
            nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                         "language": "python"}
            nbformat.write(nb, self.notebook(stem))
        (root / "course_lib").mkdir()
        (root / "course_lib" / "layers.py").write_text("def relu(x):\n    return max(x, 0)\n")
        (root / "requirements.txt").write_text("numpy>=1.26\n")
        (root / "pyproject.toml").write_text("[project]\nname = 'course_lib'\n")
        (root / "results" / "paper").mkdir(parents=True)
        (root / "results" / "paper" / "mlp_grid.json").write_text('{"gpu": 1}')
        self.layout = bbc.Layout(root, root / "_results", root / "results",
                                 root / "_build" / ".jupyter_cache")
        self.profile = "cpu"
        self.fingerprint = {"kind": "official", "hash": "0123456789ab", "note": "ok"}
        self.runs = 0
        self.log: list[str] = []

    def notebook(self, stem: str) -> Path:
        return self.root / "chapters" / f"{stem}.ipynb"

    def fake_sphinx(self, executed: list, stop_after: str | None = None):
        """What `jupyter-book build` does with `execute_notebooks: cache`: read the pages in
        sorted order; reuse a notebook's cached outputs, else execute and cache it."""
        def build(cache_dir: Path) -> int:
            cache = get_cache(str(cache_dir))
            for path in bbc.book_notebooks(self.root):
                nb = nbformat.read(path, as_version=4)
                try:
                    cache.match_cache_notebook(nb)
                    continue
                except KeyError:
                    executed.append(path.stem)
                for record in bbc.own_records(path.stem, self.layout, self.profile):
                    self.runs += 1  # every run's record differs (wall time, curves)
                    record.parent.mkdir(parents=True, exist_ok=True)
                    record.write_text(json.dumps({"run": self.runs}))
                cache.cache_notebook_bundle(CacheBundleIn(nb, str(path)),
                                            check_validity=False, overwrite=True)
                if path.stem == stop_after:
                    raise KeyboardInterrupt
            return 0
        return build

    def build(self, stop_after: str | None = None) -> set[str]:
        """Build; the chapters that executed."""
        executed: list[str] = []
        rc = bbc.rebuild(self.layout, self.profile, self.fingerprint,
                         self.fake_sphinx(executed, stop_after), out=self.log.append)
        assert rc == 0
        return set(executed)

    def plan(self) -> set[str]:
        notebooks = bbc.book_notebooks(self.root)
        inputs = bbc.global_inputs(self.root, self.profile, self.fingerprint)
        return set(bbc.make_plan(self.layout, notebooks, self.profile, inputs).execute)

    def edit(self, stem: str, kind: str) -> None:
        nb = nbformat.read(self.notebook(stem), as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell("y = 1") if kind == "code"
                        else nbformat.v4.new_markdown_cell("More prose."))
        nbformat.write(nb, self.notebook(stem))


@pytest.fixture
def book(tmp_path):
    """A fake book built once (every chapter executed)."""
    book = Book(tmp_path)
    assert book.build() == EVERY
    return book


def test_nothing_changed_nothing_executes(book):
    assert book.plan() == set()
    assert book.build() == set()
    assert book.build() == set()


def test_markdown_edit_executes_nothing(book):
    book.edit("03_numpy_mlp", "markdown")
    assert book.build() == set()


def test_code_edit_executes_that_chapter_and_the_readers_of_its_records(book):
    book.edit("03_numpy_mlp", "code")
    assert book.plan() == {"03_numpy_mlp", "08_reproduction"}
    assert book.build() == {"03_numpy_mlp", "08_reproduction"}
    assert book.build() == set()


def test_code_edit_of_a_chapter_without_records_executes_only_it(book):
    book.edit("01_cifar10", "code")
    assert book.build() == {"01_cifar10"}
    book.edit("08_reproduction", "code")
    assert book.build() == {"08_reproduction"}


def test_course_lib_change_executes_every_chapter(book):
    (book.root / "course_lib" / "layers.py").write_text("def relu(x):\n    return x * (x > 0)\n")
    assert book.plan() == EVERY
    assert book.build() == EVERY
    (book.root / "course_lib" / "new_module.py").write_text("A = 1\n")
    assert book.build() == EVERY
    assert "changed since the last build: course_lib" in "\n".join(book.log)


def test_profile_change_executes_every_chapter_and_going_back_reuses_the_first(book):
    book.profile = "smoke"
    assert book.build() == EVERY
    book.profile = "cpu"  # its cache folder and its records are still there
    assert book.build() == set()


def test_auto_profile_is_keyed_as_the_profile_it_resolves_to(book, monkeypatch):
    monkeypatch.setattr(profiles, "_cuda_available", lambda: False)
    seen = {}
    monkeypatch.setattr(bbc, "rebuild", lambda layout, profile, *a, **k: seen.update(p=profile))
    monkeypatch.setattr(bbc, "data_fingerprint", lambda: book.fingerprint)
    monkeypatch.setenv(profiles.ENV_VAR, "auto")
    assert bbc.main(["--dry-run"]) is None
    assert seen["p"] == "cpu"
    assert bbc.os.environ[profiles.ENV_VAR] == "cpu"  # what the chapters will see


def test_data_change_executes_every_chapter(book):
    book.fingerprint = {**book.fingerprint, "hash": "ba9876543210"}
    assert book.build() == EVERY


@pytest.mark.parametrize("name", ["requirements.txt", "pyproject.toml"])
def test_requirements_change_executes_every_chapter(book, name):
    with open(book.root / name, "a") as f:
        f.write("# pinned\n")
    assert book.build() == EVERY


def test_missing_records_execute_every_chapter_that_writes_or_reads_records(book):
    for record in (book.root / "_results" / "cpu").iterdir():
        record.unlink()
    assert book.plan() == RECORDS
    assert book.build() == RECORDS
    assert (book.root / "_results" / "cpu" / "numpy_mlp.json").is_file()


def test_one_missing_record_executes_its_chapter_and_the_readers(book):
    (book.root / "_results" / "cpu" / "mlp_best.json").unlink()
    assert book.build() == {"04_pytorch_mlp", "08_reproduction"}


def test_a_record_replaced_outside_the_build_executes_its_chapter(book):
    # e.g. chapter 03 run in Jupyter: the cached page no longer shows the record's numbers
    (book.root / "_results" / "cpu" / "numpy_mlp.json").write_text('{"run": "jupyter"}')
    assert book.build() == {"03_numpy_mlp", "08_reproduction"}


def test_records_overwritten_under_other_inputs_are_not_trusted(book):
    # build under a changed library (overwrites _results/cpu/), then go back to the first one:
    # its cached outputs exist, but the records on disk are the other build's
    layers = book.root / "course_lib" / "layers.py"
    first = layers.read_text()
    layers.write_text(first + "# changed\n")
    assert book.build() == EVERY
    layers.write_text(first)
    assert book.build() == RECORDS


def test_committed_records_change_executes_the_chapters_that_read_them(book):
    (book.root / "results" / "paper" / "mlp_grid.json").write_text('{"gpu": 2}')
    assert book.build() == {"04_pytorch_mlp", "08_reproduction"}


def test_an_interrupted_build_keeps_what_finished(book):
    book.edit("03_numpy_mlp", "code")
    book.edit("04_pytorch_mlp", "code")
    with pytest.raises(KeyboardInterrupt):
        book.build(stop_after="03_numpy_mlp")
    assert book.build() == {"04_pytorch_mlp", "08_reproduction"}
    assert book.build() == set()


def test_dry_run_reports_and_changes_nothing(book):
    book.edit("03_numpy_mlp", "code")
    cache = book.layout.cache_root

    def state():
        return {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}

    before = state()
    out: list[str] = []
    rc = bbc.rebuild(book.layout, book.profile, book.fingerprint,
                     build=lambda _: pytest.fail("a dry run must not build"),
                     dry_run=True, out=out.append)
    assert rc == 0 and state() == before
    text = "\n".join(out)
    assert re.search(r"03_numpy_mlp +execute: no cached outputs", text)
    assert re.search(r"08_reproduction +execute: it reads the records of 03_numpy_mlp", text)
    assert re.search(r"01_cifar10 +cached", text)


# ---- the script against the real book ----------------------------------------------------

def test_strictness_is_that_of_build_book_sh():
    line = next(s for s in (ROOT / "scripts" / "build_book.sh").read_text().splitlines()
                if "jupyter-book build" in s)
    assert tuple(line.split("jupyter-book build .", 1)[1].split()) == bbc.STRICT


def test_reads_match_what_the_chapters_read():
    """A chapter that reads committed records (results.RECORDED_DIR) or this build's records
    (results.results_dir, reproduction.compare) must say so in READS."""
    notebooks = bbc.book_notebooks(ROOT)
    assert {"01_cifar10", "08_reproduction"} <= {p.stem for p in notebooks}
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        reads = set()
        if "RECORDED_DIR" in code:
            reads.add("recorded")
        if re.search(r"results_dir\(|reproduction\.(compare|provenance)\(", code):
            reads.add("build")
        assert reads == set(bbc.READS.get(path.stem, ())), path.stem


def test_chapters_that_read_records_execute_after_the_chapters_that_write_them():
    order = [p.stem for p in bbc.book_notebooks(ROOT)]
    assert set(bbc.writers()) <= set(order)
    for reader in (s for s, reads in bbc.READS.items() if "build" in reads):
        assert all(order.index(reader) > order.index(w) for w in bbc.writers()), reader


def test_derived_config_changes_only_the_execution(tmp_path):
    path = bbc.write_config(ROOT, tmp_path / "cache", tmp_path / "config.yml")
    derived = yaml.safe_load(path.read_text())
    original = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert derived["execute"].pop("execute_notebooks") == "cache"
    assert derived["execute"].pop("cache") == str(tmp_path / "cache")
    original["execute"].pop("execute_notebooks")
    assert derived == original


def test_data_fingerprint_of_present_and_missing_data(small_layout, monkeypatch, tmp_path):
    root, _ = small_layout
    monkeypatch.setenv("CIFAR10_ROOT", str(root))
    assert bbc.data_fingerprint()["hash"]
    monkeypatch.setenv("CIFAR10_ROOT", str(tmp_path / "nowhere"))
    assert "missing" in bbc.data_fingerprint()


def test_records_are_where_the_chapters_write_them(book):
    assert bbc.own_records("03_numpy_mlp", book.layout, "cpu") == [
        results.path_of("numpy_mlp", "cpu", book.root / "_results")]


def test_code_edited_and_reverted_executes_again(book):
    # the cache still holds the first version's outputs, but the records are the second's
    original = book.notebook("03_numpy_mlp").read_bytes()
    book.edit("03_numpy_mlp", "code")
    assert book.build() == {"03_numpy_mlp", "08_reproduction"}
    book.notebook("03_numpy_mlp").write_bytes(original)
    assert book.build() == {"03_numpy_mlp", "08_reproduction"}
