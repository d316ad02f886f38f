"""Rebuild the book, re-executing a chapter only when something it depends on changed.

For authors: ``.venv/bin/python scripts/build_book_cached.py [--profile P] [--dry-run]``.
It builds exactly like ``scripts/build_book.sh`` (same set-up, same Sphinx strictness), except
that chapters run under ``execute_notebooks: cache`` instead of ``force``; CI keeps using
build_book.sh. A chapter executes when

1. its code cells changed (jupyter-cache's own key; a markdown-only edit re-renders the page
   without executing it);
2. anything every chapter depends on changed: the ``.py`` files of ``course_lib/``, the
   resolved profile (``auto`` on a CPU machine is ``cpu``), the data's fingerprint, or
   ``requirements.txt`` / ``pyproject.toml``. These choose the jupyter-cache folder,
   ``_build/.jupyter_cache/<hash of them>``, so a change starts from an empty cache and going
   back (to another profile, say) finds the earlier outputs again;
3. the records it writes (``_results/<profile>/``, or ``$COURSE_RESULTS``) are missing, or are
   not the ones its cached outputs were made with (a later build under other inputs, or a run
   in Jupyter, replaced them), or the records it reads changed: see :data:`READS`;
4. it reads this build's records and a chapter writing them executes (chapter 08: its cached
   page would show the old numbers).

Rules 3 and 4 use a manifest in the cache folder: for each chapter whose cached outputs came
from this script, the jupyter-cache hash of those outputs and the sha256 of every record file
it wrote or read when they were made. Chapters that must execute lose their cache entry before
the build, so Sphinx executes them; after the build (also a failed or interrupted one) the
chapters that executed and were cached get new manifest entries.

Sphinx reads (and myst-nb executes) the pages one after the other in sorted order, so chapter
07 executes after every chapter that writes records; the tests check that order.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from course_lib import data, profiles, results

ROOT = Path(__file__).resolve().parents[1]
#: One jupyter-cache folder per key below this folder (relative to the book's root).
CACHE_ROOT = Path("_build") / ".jupyter_cache"
MANIFEST = "course-manifest.json"  # in a key's folder: what each cached chapter was made with
INPUTS = "course-inputs.json"  # in a key's folder: the inputs that make its key
LATEST = "latest.json"  # in CACHE_ROOT: the key and inputs of the last build
#: The flags of scripts/build_book.sh (a test checks that they stay the same).
STRICT = ("--all", "-W", "-n", "--keep-going", "--builder", "html")
#: Records a chapter reads besides those it writes: "build", every record of this build's
#: profile (written by the chapters of profiles.EXPERIMENTS); "recorded", the committed GPU
#: records in results/. A test checks this against the chapters' code.
READS = {
    "04_pytorch_mlp": ("recorded",),
    "07_cnn": ("recorded",),
    "08_recipe": ("recorded",),
    "08_reproduction": ("build", "recorded"),
}


@dataclass(frozen=True)
class Layout:
    """Where the book, its records and its caches are."""
    root: Path  # the book: _toc.yml, chapters/, course_lib/, requirements.txt
    results: Path  # this build's records: <results>/<profile>/<experiment>.json
    recorded: Path  # the committed records (results/)
    cache_root: Path  # one jupyter-cache folder per key below it

    @classmethod
    def of(cls, root: Path = ROOT) -> Layout:
        return cls(root, results.results_dir(), results.RECORDED_DIR, root / CACHE_ROOT)


@dataclass
class Plan:
    profile: str
    inputs: dict  # what the key is made of
    key: str
    cache_dir: Path
    changed: list[str]  # inputs that differ from the last build's (empty: same key or none)
    reasons: dict[str, list[str]]  # chapter -> why it executes ([] = its outputs are reused)

    @property
    def execute(self) -> list[str]:
        return [stem for stem, why in self.reasons.items() if why]


# ---- what a chapter depends on ----------------------------------------------------------

def book_notebooks(root: Path) -> list[Path]:
    """The notebooks of the book's table of contents, in the order Sphinx reads them."""
    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load((root / "_toc.yml").read_text()))
    paths = (root / (f if f.endswith(".ipynb") else f"{f}.ipynb") for f in files)
    return sorted((p for p in paths if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def file_hash(path: Path) -> str | None:
    """The sha256 of a file's bytes, None if there is no such file."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def hash_files(paths: Iterable[Path], base: Path) -> str:
    """One sha256 of the names (relative to ``base``) and contents of ``paths``."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f"{path.relative_to(base).as_posix()} {file_hash(path)}\n".encode())
    return digest.hexdigest()


def library_files(root: Path) -> list[Path]:
    return [p for p in (root / "course_lib").rglob("*.py")
            if not any(part.startswith(".") for part in p.relative_to(root).parts)]


def data_fingerprint() -> dict:
    """course_lib.data.fingerprint of the data the chapters read, or where it is missing."""
    folder = data.data_root() / data.FOLDER
    try:
        return data.fingerprint(folder)
    except OSError as err:
        return {"missing": str(folder), "error": type(err).__name__}


def global_inputs(root: Path, profile: str, fingerprint: dict) -> dict:
    """What every chapter depends on besides its own code; their hash is the cache key."""
    return {
        "profile": profile,
        "course_lib": hash_files(library_files(root), root),
        "requirements": hash_files([root / "requirements.txt", root / "pyproject.toml"], root),
        "data": fingerprint,
    }


def cache_key(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def writers() -> dict[str, tuple[str, ...]]:
    """Chapter -> the experiments whose records it writes (from profiles.EXPERIMENTS)."""
    out: dict[str, tuple[str, ...]] = {}
    for name, exp in profiles.EXPERIMENTS.items():
        out[exp.chapter] = (*out.get(exp.chapter, ()), name)
    return out


def own_records(stem: str, layout: Layout, profile: str) -> list[Path]:
    return [results.path_of(e, profile, layout.results) for e in writers().get(stem, ())]


def record_inputs(stem: str, layout: Layout, profile: str) -> dict[str, str | None]:
    """The record files chapter ``stem`` writes or reads, with their sha256 (None: missing)."""
    paths = own_records(stem, layout, profile)
    reads = READS.get(stem, ())
    if "build" in reads:
        paths += sorted((layout.results / profile).glob("*.json"))
    if "recorded" in reads and layout.recorded.is_dir():
        paths += sorted(p for p in layout.recorded.rglob("*") if p.is_file())
    return {str(p): file_hash(p) for p in paths}


# ---- the cache ------------------------------------------------------------------------------

def _get_cache(cache_dir: Path):
    from jupyter_cache import get_cache

    return get_cache(str(cache_dir))


def cached_record(cache, notebook: Path):
    """jupyter-cache's record of ``notebook``'s current code, None if it has none."""
    if cache is None:
        return None
    try:
        return cache.match_cache_notebook(nbformat.read(notebook, as_version=4))
    except KeyError:
        return None


def read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _short(path: str, layout: Layout) -> str:
    try:
        return os.path.relpath(path, layout.root)
    except ValueError:
        return path


def make_plan(layout: Layout, notebooks: list[Path], profile: str, inputs: dict) -> Plan:
    """Which chapters must execute, and why. Reads the caches; changes nothing."""
    key = cache_key(inputs)
    cache_dir = layout.cache_root / key
    last = read_json(layout.cache_root / LATEST, None)
    changed = []
    if isinstance(last, dict) and last.get("key") != key:
        changed = [k for k in inputs if last.get("inputs", {}).get(k) != inputs[k]]
    manifest = read_json(cache_dir / MANIFEST, {})
    cache = _get_cache(cache_dir) if (cache_dir / "global.db").is_file() else None
    reasons: dict[str, list[str]] = {}
    for notebook in notebooks:
        stem, why = notebook.stem, []
        record = cached_record(cache, notebook)
        entry = manifest.get(stem)
        now = record_inputs(stem, layout, profile)
        missing = [p for p in map(str, own_records(stem, layout, profile)) if now[p] is None]
        if record is None:
            why.append("no cached outputs for its code under these inputs" if cache is not None
                       else "nothing cached under these inputs yet")
        elif not isinstance(entry, dict) or entry.get("notebook") != record.hashkey:
            why.append("its cached outputs for this code are not the ones its records were "
                       "made with (its code changed and changed back, say)")
        else:
            before = entry.get("inputs", {})
            differ = sorted(p for p in {*now, *before} if now.get(p) != before.get(p)
                            and p not in missing)
            if differ:
                why.append("records changed since its outputs were cached: "
                           + ", ".join(_short(p, layout) for p in differ))
        if missing:
            why.append("records missing: " + ", ".join(_short(p, layout) for p in missing))
        reasons[stem] = why
    writing = [stem for stem in writers() if reasons.get(stem)]
    for stem, why in reasons.items():
        if "build" in READS.get(stem, ()) and writing and not why:
            why.append(f"it reads the records of {', '.join(writing)}, which execute")
    return Plan(profile, inputs, key, cache_dir, changed, reasons)


def describe(plan: Plan, layout: Layout) -> str:
    lines = [f"profile {plan.profile}; cache {_short(str(plan.cache_dir), layout)}"]
    if plan.changed:
        lines.append(f"changed since the last build: {', '.join(plan.changed)} (so another "
                     "cache folder: every chapter executes unless these inputs were built before)")
    width = max((len(s) for s in plan.reasons), default=0)
    for stem, why in plan.reasons.items():
        lines.append(f"  {stem:<{width}}  " + ("execute: " + "; ".join(why) if why else "cached"))
    lines.append(f"{len(plan.execute)} of {len(plan.reasons)} chapters execute")
    return "\n".join(lines)


def uncache(plan: Plan, notebooks: list[Path]) -> None:
    """Drop the cached outputs of the chapters that must execute, so that Sphinx executes them
    (their manifest entries no longer match anything, so they need no change)."""
    cache = _get_cache(plan.cache_dir)
    for notebook in notebooks:
        if plan.reasons[notebook.stem]:
            if (record := cached_record(cache, notebook)) is not None:
                cache.remove_cache(record.pk)
    write_json(plan.cache_dir / INPUTS, plan.inputs)


def record_build(plan: Plan, layout: Layout, notebooks: list[Path]) -> list[str]:
    """After a build: a manifest entry for every chapter that executed and was cached.
    Returns those chapters."""
    manifest = read_json(plan.cache_dir / MANIFEST, {})
    cache = _get_cache(plan.cache_dir)
    done = []
    for notebook in notebooks:
        if plan.reasons[notebook.stem]:
            if (record := cached_record(cache, notebook)) is not None:
                manifest[notebook.stem] = {
                    "notebook": record.hashkey,
                    "inputs": record_inputs(notebook.stem, layout, plan.profile)}
                done.append(notebook.stem)
    write_json(plan.cache_dir / MANIFEST, manifest)
    write_json(layout.cache_root / LATEST, {"key": plan.key, "inputs": plan.inputs})
    return done


def rebuild(layout: Layout, profile: str, fingerprint: dict, build: Callable[[Path], int],
            dry_run: bool = False, out=print) -> int:
    """Plan, drop what must execute, ``build(cache_dir)``, record what executed."""
    notebooks = book_notebooks(layout.root)
    plan = make_plan(layout, notebooks, profile, global_inputs(layout.root, profile, fingerprint))
    out(describe(plan, layout))
    if dry_run:
        return 0
    uncache(plan, notebooks)
    rc = 1
    try:
        rc = build(plan.cache_dir)
    finally:
        done = record_build(plan, layout, notebooks)
        failed = [s for s in plan.execute if s not in done]
        out(f"executed and cached: {', '.join(done) or 'none'}"
            + (f"; not cached (failed or interrupted): {', '.join(failed)}" if failed else ""))
    return rc


# ---- the build -------------------------------------------------------------------------------

def write_config(root: Path, cache_dir: Path, path: Path) -> Path:
    """_config.yml with ``execute_notebooks: cache`` in ``cache_dir``, written to ``path``."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    config.setdefault("execute", {}).update(execute_notebooks="cache", cache=str(cache_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Written by scripts/build_book_cached.py from _config.yml; not for editing.\n"
                    + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def jupyter_book_build(root: Path, profile: str) -> Callable[[Path], int]:
    def build(cache_dir: Path) -> int:
        config = write_config(root, cache_dir, root / CACHE_ROOT / "_config.cached.yml")
        command = [str(Path(sys.executable).parent / "jupyter-book"), "build", ".",
                   "--config", str(config), *STRICT]
        return subprocess.call(command, cwd=root, env={**os.environ, profiles.ENV_VAR: profile})
    return build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", help="paper, cpu, smoke or auto (default: $COURSE_PROFILE, "
                        "else auto)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print which chapters would execute and why; build nothing")
    args = parser.parse_args(argv)
    start = time.monotonic()
    if not args.dry_run:
        subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, check=True)
    profile = profiles.active_profile(args.profile)
    os.environ[profiles.ENV_VAR] = profile  # what the chapters (and results.path_of) see
    if not args.dry_run:
        try:  # the data the build will read, so that the key is that of the data
            data.ensure_cifar10()
        except data.DataError as err:
            print(err, file=sys.stderr)
            return 1
    layout = Layout.of(ROOT)
    rc = rebuild(layout, profile, data_fingerprint(), jupyter_book_build(ROOT, profile),
                 dry_run=args.dry_run)
    if not args.dry_run:
        state = "Built" if rc == 0 else f"FAILED (exit {rc})"
        print(f"{state} in {time.monotonic() - start:.0f} s: {ROOT / '_build/html/index.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
