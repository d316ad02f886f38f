"""scripts/build_book_cached.py: real cached builds (Jupyter Book, Sphinx, kernels) of a tiny
book with the real ``_config.yml`` and ``_ext/``: what executes, and a damaged cache recovered;
and the script against the real book (strictness, order of the reproduction page)."""

import json
import shutil
from pathlib import Path

import nbformat
import yaml
from conftest import load_script
from jupyter_cache import get_cache

from course_lib import profiles

ROOT = Path(__file__).resolve().parents[1]
bbc = load_script("build_book_cached")
CHAPTERS = ("01_tiny", "09_reproduction")
FINGERPRINT = {"kind": "official", "hash": "0123456789ab"}


def tiny_book(root: Path) -> Path:
    """The real _config.yml and _ext/, an intro and two chapters whose code cells append
    their name to ``$RUNS_LOG``, so that a build says which chapters executed."""
    root.mkdir(exist_ok=True)
    for name in ("_config.yml", "references.bib", "requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "_ext", root / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "_vendor").mkdir()
    (root / "course_lib").mkdir()
    (root / "course_lib" / "layers.py").write_text("def relu(x):\n    return max(x, 0)\n")
    (root / "intro.md").write_text("# A tiny book\n")
    (root / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": "intro", "parts": [
        {"caption": "Chapters", "numbered": True,
         "chapters": [{"file": f"chapters/{stem}"} for stem in CHAPTERS]}]}))
    (root / "chapters").mkdir()
    for stem in CHAPTERS:
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_markdown_cell(f"# Chapter {stem}"),
            nbformat.v4.new_code_cell("import os\n"
                                      f"open(os.environ['RUNS_LOG'], 'a').write('{stem}\\n')")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbformat.write(nb, root / "chapters" / f"{stem}.ipynb")
    return root


def test_a_real_cached_build_executes_what_changed_and_recovers_a_damaged_cache(
        tmp_path, monkeypatch):
    book = tiny_book(tmp_path / "book")
    log = tmp_path / "runs.log"
    monkeypatch.setenv("RUNS_LOG", str(log))

    def build() -> tuple[list[str], str]:
        log.write_text("")
        said = []
        assert bbc.build(book, "smoke", FINGERPRINT, out=said.append) == 0, said
        assert (book / "_build/html/chapters/01_tiny.html").is_file()
        return log.read_text().split(), "\n".join(said)

    assert build()[0] == list(CHAPTERS)  # the first build executes everything
    # a markdown edit executes nothing but the reproduction page, which always executes
    path = book / "chapters/01_tiny.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source += "\n\nMore words."
    nbformat.write(nb, path)
    assert build()[0] == ["09_reproduction"]
    # (a code edit executes its chapter: jupyter-cache's own key, as the first build shows)

    cache_dir = next(p for p in (book / bbc.CACHE_ROOT).iterdir() if p.is_dir())
    hashkey = get_cache(str(cache_dir)).match_cache_notebook(nb).hashkey
    executed = cache_dir / "executed" / hashkey / "base.ipynb"  # 01_tiny's outputs
    executed.write_bytes(executed.read_bytes()[:100])  # nbformat: NotJSONError
    ran, said = build()
    assert ran == list(CHAPTERS) and f"the jupyter cache {cache_dir} is damaged" in said
    assert "NotJSONError" in said
    # a truncated database (sqlite3.DatabaseError): the same, seen before the build
    db = cache_dir / "global.db"
    db.write_bytes(db.read_bytes()[:1000])
    said = []
    assert bbc.prepare(book, "smoke", FINGERPRINT, out=said.append) == cache_dir
    assert f"the jupyter cache {cache_dir} is damaged" in said[0] and "DatabaseError" in said[0]
    assert said[1].endswith(f"executing {', '.join(CHAPTERS)}")


def test_the_cache_key_changes_with_every_shared_input(tmp_path):
    book = tiny_book(tmp_path)
    key = bbc.cache_key(book, "cpu", FINGERPRINT)
    assert key == bbc.cache_key(book, "cpu", dict(FINGERPRINT))
    assert bbc.cache_key(book, "smoke", FINGERPRINT) != key
    assert bbc.cache_key(book, "cpu", {**FINGERPRINT, "hash": "ba9876543210"}) != key
    for name in ("course_lib/layers.py", "requirements.txt", "pyproject.toml"):
        before = (book / name).read_text()
        (book / name).write_text(before + "\n# changed\n")
        assert bbc.cache_key(book, "cpu", FINGERPRINT) != key, name
        (book / name).write_text(before)
    (book / "course_lib" / "new.py").write_text("")
    assert bbc.cache_key(book, "cpu", FINGERPRINT) != key
    key = bbc.cache_key(book, "cpu", FINGERPRINT)
    (book / "results" / "paper").mkdir(parents=True, exist_ok=True)
    (book / "results" / "paper" / "cnn.json").write_text("{}")  # a chapter reads it
    assert bbc.cache_key(book, "cpu", FINGERPRINT) != key


def test_a_chapter_whose_records_are_missing_executes(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RESULTS", str(tmp_path))
    writer = next(iter(profiles.EXPERIMENTS.values())).chapter
    missing = bbc.missing_records(writer, "smoke")
    assert missing and all(p.parent == tmp_path / "smoke" for p in missing)
    for path in missing:
        path.parent.mkdir(exist_ok=True)
        path.write_text("{}")
    assert bbc.missing_records(writer, "smoke") == []


# ---- the script against the real book ----------------------------------------------------

def test_strictness_is_that_of_build_book_sh():
    line = next(s for s in (ROOT / "scripts" / "build_book.sh").read_text().splitlines()
                if "jupyter-book build" in s)
    assert tuple(line.split("jupyter-book build .", 1)[1].split()) == bbc.STRICT


def test_the_reproduction_page_executes_after_every_chapter_that_writes_records():
    order = [p.stem for p in bbc.book_notebooks(ROOT)]
    pages = [p.stem for p in bbc.book_notebooks(ROOT) if p.match(bbc.REPRODUCTION)]
    assert len(pages) == 1, pages
    writers = {exp.chapter for exp in profiles.EXPERIMENTS.values()}
    assert writers <= set(order)
    assert all(order.index(pages[0]) > order.index(w) for w in writers)


def test_derived_config_changes_only_the_execution_and_the_extensions_paths(tmp_path):
    path = bbc.write_config(ROOT, tmp_path / "cache", tmp_path / "config.yml")
    derived = yaml.safe_load(path.read_text())
    original = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert derived["execute"].pop("execute_notebooks") == "cache"
    assert derived["execute"].pop("cache") == str(tmp_path / "cache")
    original["execute"].pop("execute_notebooks")
    for name, folder in original["sphinx"]["local_extensions"].items():
        assert derived["sphinx"]["local_extensions"].pop(name) == str((ROOT / folder).resolve())
    original["sphinx"].pop("local_extensions")
    derived["sphinx"].pop("local_extensions")
    assert json.dumps(derived, sort_keys=True) == json.dumps(original, sort_keys=True)


def test_data_fingerprint_of_present_and_missing_data(small_layout, monkeypatch, tmp_path):
    root, _ = small_layout
    monkeypatch.setenv("CIFAR10_ROOT", str(root))
    assert bbc.data_fingerprint()["hash"]
    monkeypatch.setenv("CIFAR10_ROOT", str(tmp_path / "nowhere"))
    assert "missing" in bbc.data_fingerprint()

