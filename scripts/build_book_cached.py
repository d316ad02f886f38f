"""Rebuild the book, re-executing only the chapters whose inputs changed.

For authors: ``.venv/bin/python scripts/build_book_cached.py [--profile P]``. It builds
exactly like ``scripts/build_book.sh`` (same set-up, same Sphinx strictness), except that
chapters run under myst-nb's ``execute_notebooks: cache`` instead of ``force``; CI keeps using
build_book.sh. A chapter executes when

1. its code cells changed (jupyter-cache's own key; a markdown-only edit re-renders the page
   without executing it);
2. anything every chapter depends on changed: the ``.py`` files of ``course_lib/``, the
   committed records of ``results/`` (several chapters read them), the resolved profile
   (``auto`` on a CPU machine is ``cpu``), the data's fingerprint, or
   ``requirements.txt`` / ``pyproject.toml``. These choose the jupyter-cache folder,
   ``_build/.jupyter_cache/<hash of them>``, so a change starts from an empty cache and going
   back (to another profile, say) finds the earlier outputs again;
3. a record it writes (``_results/<profile>/``, or ``$COURSE_RESULTS``) is missing;
4. it is the reproduction page (``*_reproduction.ipynb``): always, since it shows the records
   of this build, whichever chapters wrote them. Sphinx executes the pages in sorted order, so
   it runs after every chapter that writes records (tests/test_build_cache.py checks that).

A cache folder that jupyter-cache cannot read (a truncated database or executed notebook) is
deleted, saying so, and rebuilt.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml

from course_lib import data, profiles, results

ROOT = Path(__file__).resolve().parents[1]
CACHE_ROOT = Path("_build") / ".jupyter_cache"  # one jupyter-cache folder per key below it
#: The flags of scripts/build_book.sh (a test checks that they stay the same).
STRICT = ("--all", "-W", "-n", "--keep-going", "--builder", "html")
REPRODUCTION = "*_reproduction.ipynb"  # the page that always executes


def book_notebooks(root: Path) -> list[Path]:
    """The notebooks of the book's table of contents, in the order Sphinx reads them."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [ch["file"] for part in toc.get("parts", [toc]) for ch in part.get("chapters", [])]
    paths = (root / (f if f.endswith(".ipynb") else f"{f}.ipynb") for f in files)
    return sorted((p for p in paths if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def cache_key(root: Path, profile: str, fingerprint: dict) -> str:
    """The hash of what every chapter depends on besides its own code."""
    digest = hashlib.sha256(json.dumps([profile, fingerprint]).encode())
    for path in sorted([*(root / "course_lib").rglob("*.py"), *(root / "results").rglob("*.json"),
                        root / "requirements.txt", root / "pyproject.toml"]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"(missing)")
    return digest.hexdigest()[:16]


def data_fingerprint() -> dict:
    """course_lib.data.fingerprint of the data the chapters read, or where it is missing."""
    folder = data.data_root() / data.FOLDER
    try:
        return data.fingerprint(folder)
    except OSError as err:
        return {"missing": str(folder), "error": type(err).__name__}


def missing_records(stem: str, profile: str) -> list[Path]:
    return [path for name, exp in profiles.EXPERIMENTS.items() if exp.chapter == stem
            if not (path := results.path_of(name, profile)).is_file()]


def open_cache(cache_dir: Path, out=print):
    """The jupyter-cache in ``cache_dir``, every cached notebook read once: a folder it cannot
    read (a truncated ``global.db`` or executed notebook, say) is deleted and started afresh."""
    from jupyter_cache import get_cache

    try:
        cache = get_cache(str(cache_dir))
        for record in cache.list_cache_records():
            cache.get_cache_bundle(record.pk)
        return cache
    except Exception as err:  # sqlite3.DatabaseError, nbformat's NotJSONError, KeyError, ...
        out(f"the jupyter cache {cache_dir} is damaged ({type(err).__name__}: {err}); "
            "deleted it: every chapter executes")
        shutil.rmtree(cache_dir)
        return get_cache(str(cache_dir))


def prepare(root: Path, profile: str, fingerprint: dict, out=print) -> Path:
    """The cache folder of these inputs, without the entries of the chapters that must execute
    (rules 3 and 4); says which chapters execute."""
    cache_dir = root / CACHE_ROOT / cache_key(root, profile, fingerprint)
    cache = open_cache(cache_dir, out)
    execute = []
    for notebook in book_notebooks(root):
        try:
            record = cache.match_cache_notebook(nbformat.read(notebook, as_version=4))
        except KeyError:
            execute.append(notebook.stem)
            continue
        if notebook.match(REPRODUCTION) or missing_records(notebook.stem, profile):
            cache.remove_cache(record.pk)
            execute.append(notebook.stem)
    out(f"profile {profile}; cache {cache_dir.relative_to(root)}; "
        f"executing {', '.join(execute) or 'nothing'}")
    return cache_dir


def write_config(root: Path, cache_dir: Path, path: Path) -> Path:
    """_config.yml with ``execute_notebooks: cache`` in ``cache_dir``, written to ``path``.
    Jupyter Book finds ``sphinx.local_extensions`` relative to the config's folder, so their
    paths are made absolute."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    config.setdefault("execute", {}).update(execute_notebooks="cache", cache=str(cache_dir))
    local = config.get("sphinx", {}).get("local_extensions") or {}
    for name, folder in local.items():
        local[name] = str((root / folder).resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Written by scripts/build_book_cached.py from _config.yml; not for editing.\n"
                    + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def build(root: Path, profile: str, fingerprint: dict, out=print) -> int:
    """Prepare the cache and run ``jupyter-book build`` under it; its exit status."""
    cache_dir = prepare(root, profile, fingerprint, out)
    config = write_config(root, cache_dir, root / CACHE_ROOT / "_config.cached.yml")
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(root),
               "--config", str(config), *STRICT]
    return subprocess.call(command, cwd=root, env={**os.environ, profiles.ENV_VAR: profile})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", help="paper, cpu, smoke or auto (default: $COURSE_PROFILE, "
                        "else auto)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, check=True)
    profile = profiles.active_profile(args.profile)
    os.environ[profiles.ENV_VAR] = profile  # what the chapters (and results.path_of) see
    try:  # the data the build will read, so that the key is that of the data
        data.ensure_cifar10()
    except data.DataError as err:
        print(err, file=sys.stderr)
        return 1
    rc = build(ROOT, profile, data_fingerprint())
    state = "Built" if rc == 0 else f"FAILED (exit {rc})"
    print(f"{state} in {time.monotonic() - start:.0f} s: {ROOT / '_build/html/index.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
