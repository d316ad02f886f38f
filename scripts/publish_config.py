"""Where the course is published: one setting in ``_config.yml``, and what follows from it.

Usage::

    python scripts/publish_config.py https://github.com/OWNER/REPO [--branch main]
    python scripts/publish_config.py --unpublish    # no repository: launch buttons hidden
    python scripts/publish_config.py                # rewrite what follows from _config.yml
    python scripts/publish_config.py --check        # exit 1, listing what disagrees

The setting is ``repository.url`` (a GitHub repository, or ``""`` while the course is not
published) and ``repository.branch`` in ``_config.yml``. From it follow:

- the book's buttons in ``_config.yml``: the Binder and Colab launch buttons
  (``launch_buttons.binderhub_url``, ``launch_buttons.colab_url``) and the repository and issues
  buttons (``html.use_repository_button``, ``html.use_issues_button``): on with a URL, off
  without one, so that no page of the book links to a repository that does not exist;
- the set-up cell of every chapter (the first code cell of ``chapters/*.ipynb``, the template
  included): when ``course_lib`` is missing (Colab, a downloaded notebook) it installs
  ``course_lib[chapters] @ git+URL@BRANCH`` with pip; the environment variable
  ``COURSE_LIB_URL`` overrides that source (a fork, or the CI test of the cell); without
  either it stops with one message saying what to do.

Only those keys and cells are rewritten; the rest of ``_config.yml`` and of every notebook is
left byte for byte as it was. ``tests/test_publish.py`` runs ``--check``'s logic, so a set-up
cell or a button that disagrees with the setting fails the tests.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "_config.yml"
CHAPTERS = "chapters"
ENV_VAR = "COURSE_LIB_URL"
BINDERHUB_URL = "https://mybinder.org"
COLAB_URL = "https://colab.research.google.com"
#: Colab opens notebooks from GitHub only, so the course is published on GitHub: an owner is
#: 1-39 letters, digits and single inner hyphens; a repository 1-100 letters, digits, ``_.-``,
#: but not ``.`` or ``..``.
GITHUB_REPO = re.compile(r"https://github\.com/(?=[^/]{1,39}/)[A-Za-z0-9]+(-[A-Za-z0-9]+)*"
                         r"/(?!\.\.?$)[A-Za-z0-9_.-]{1,100}")
#: The characters a branch may use here (pip's ``git+URL@BRANCH`` and the set-up cells need
#: no quoting); :func:`check_branch` adds git's own rules (git check-ref-format --branch).
BRANCH = re.compile(r"[A-Za-z0-9_./-]+")
#: The set-up cell is the first code cell, and it starts with this.
MARKER = "# Set-up"

SETUP_CELL = '''\
# Set-up for Colab, Binder or a downloaded notebook: install the course library if it is
# missing (in a clone set up with the README's commands it is there, and this does nothing).
# COURSE_LIB_URL, if set, overrides where it comes from: a fork, or CI's test of this cell.
# Written by scripts/publish_config.py from _config.yml; change it there, not here.
import importlib.util
import os

COURSE_LIB = {source}
if importlib.util.find_spec("course_lib") is None:
    source = os.environ.get("COURSE_LIB_URL") or COURSE_LIB
    if not source:
        raise RuntimeError(
            "course_lib, the course's library, is not installed, and this copy of the course "
            "does not say where to get it (it was built before the course was published). "
            "Run the chapter in a clone of the course (README: bash scripts/setup.sh), or set "
            "the environment variable COURSE_LIB_URL to the course's repository, such as "
            "git+https://github.com/OWNER/REPO@main, and run this cell again.")
    %pip install -q "course_lib[chapters] @ {{source}}"
    importlib.invalidate_caches()
    if importlib.util.find_spec("course_lib") is None:
        raise RuntimeError(f"Installing course_lib from {{source}} failed: see pip's message "
                           "above.")'''


class PublishError(ValueError):
    """A repository URL or branch that the launch buttons and pip cannot use."""


def normalise_url(url: str) -> str:
    """``https://github.com/OWNER/REPO`` from what a reader pastes (a trailing ``/`` or
    ``.git``); ``""`` stays ``""`` (not published)."""
    url = url.strip().rstrip("/")
    url = url[:-4] if url.endswith(".git") else url
    if url and not GITHUB_REPO.fullmatch(url):
        raise PublishError(
            f"{url!r} is not a GitHub repository URL (https://github.com/OWNER/REPO). The "
            "Colab button opens notebooks from GitHub only, and the set-up cells install the "
            "course from the same URL.")
    return url


def check_branch(branch: str) -> str:
    """``branch`` if git accepts it as a branch name (git check-ref-format's rules) and it
    uses only :data:`BRANCH`'s characters."""
    parts = branch.split("/")
    if (not BRANCH.fullmatch(branch) or branch.startswith("-") or ".." in branch
            or branch.endswith(".") or any(not p or p.startswith(".") or p.endswith(".lock")
                                           for p in parts)):
        raise PublishError(f"{branch!r} is not a branch name git accepts (letters, digits and "
                           "_./- ; no '..', no '//', no part starting with '.' or ending in "
                           "'.lock', not ending in '.' or '/')")
    return branch


def read_setting(root: Path = ROOT) -> tuple[str, str]:
    """``(url, branch)`` from ``_config.yml`` (``url`` is ``""`` while not published). A value
    YAML read as something other than a string (``branch: 1.10`` is the number 1.1, ``no``
    is false) is refused, with how to quote it."""
    config = yaml.safe_load((root / CONFIG).read_text()) or {}
    repository = config.get("repository") or {}
    values = {}
    for key, default in (("url", ""), ("branch", "main")):
        value = repository.get(key)
        if value is not None and not isinstance(value, str):
            raise PublishError(
                f"{CONFIG}: repository.{key} is {value!r} ({type(value).__name__}), not a "
                "string: YAML retyped an unquoted value (1.10 is 1.1, no is False); write it "
                f'in double quotes, as meant: {key}: "..."')
        values[key] = value or default
    return normalise_url(values["url"]), check_branch(values["branch"])


def pip_source(url: str, branch: str) -> str:
    """What pip installs the course from: ``git+URL@BRANCH``, or ``""``."""
    return f"git+{url}@{branch}" if url else ""


def setup_cell(url: str, branch: str) -> str:
    """The source of every chapter's set-up cell for this setting."""
    return SETUP_CELL.format(source=json.dumps(pip_source(url, branch)))


def expected_keys(url: str) -> dict[tuple[str, str], object]:
    """The ``_config.yml`` keys that follow from the setting: ``(section, key) -> value``."""
    published = bool(url)
    return {
        ("repository", "url"): url,
        ("launch_buttons", "binderhub_url"): BINDERHUB_URL if published else "",
        ("launch_buttons", "colab_url"): COLAB_URL if published else "",
        ("html", "use_repository_button"): published,
        ("html", "use_issues_button"): published,
    }


def _yaml_value(value) -> str:
    """``value`` as YAML: a boolean, or a string in double quotes, which YAML never retypes
    (unquoted, a branch ``1.10`` would be read as the number 1.1, and ``no`` as false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def set_key(text: str, section: str, key: str, value) -> str:
    """``text`` (a YAML file) with ``section: key:`` set to ``value``, all else unchanged.

    ``section`` must be a top-level mapping written in block style; a missing key is added
    as its first line, with the indentation of the section's other keys.
    """
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(rf"{section}:\s*(#.*)?$",
                                                                 line.rstrip("\n"))), None)
    if start is None:
        raise PublishError(f"{CONFIG} has no top-level `{section}:` block")
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip() and not lines[i][0].isspace()), len(lines))
    indent = "  "
    for i in range(start + 1, end):
        m = re.match(r"^(\s+)([A-Za-z_]+)\s*:(\s*)([^#\n]*?)(\s*#.*)?$", lines[i].rstrip("\n"))
        if m:
            indent = m.group(1)
            if m.group(2) == key:
                comment = m.group(5) or ""
                lines[i] = f"{indent}{key}: {_yaml_value(value)}{comment}\n"
                return "".join(lines)
    lines.insert(start + 1, f"{indent}{key}: {_yaml_value(value)}\n")
    return "".join(lines)


def config_text(text: str, url: str, branch: str) -> str:
    """``_config.yml``'s text with the setting and every key that follows from it."""
    for (section, key), value in expected_keys(url).items():
        text = set_key(text, section, key, value)
    return set_key(text, "repository", "branch", branch)


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / CHAPTERS).glob("*.ipynb"))


def setup_cell_of(nb: dict) -> dict | None:
    """The notebook's set-up cell: its first code cell, if that starts with :data:`MARKER`."""
    first = next((c for c in nb["cells"] if c["cell_type"] == "code"), None)
    if first is not None and "".join(first["source"]).startswith(MARKER):
        return first
    return None


def _source_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def check(root: Path = ROOT) -> list[str]:
    """Everything that disagrees with the setting in ``_config.yml``; empty when all agree."""
    url, branch = read_setting(root)
    problems = []
    config = yaml.safe_load((root / CONFIG).read_text())
    for (section, key), value in expected_keys(url).items():
        got = (config.get(section) or {}).get(key)
        if isinstance(value, bool):
            agrees = got is value or (got is None and value is False)
        else:
            agrees = (got or "") == value
        if not agrees:
            problems.append(f"{CONFIG}: {section}.{key} is {got!r}, expected {value!r} "
                            f"(repository.url is {url!r})")
    want = setup_cell(url, branch)
    for path in notebooks(root):
        cell = setup_cell_of(json.loads(path.read_text()))
        if cell is None:
            problems.append(f"{path.relative_to(root)}: its first code cell is not the set-up "
                            f"cell (it must start with {MARKER!r})")
        elif "".join(cell["source"]) != want:
            problems.append(f"{path.relative_to(root)}: the set-up cell differs from the one "
                            f"{CONFIG} gives (python scripts/publish_config.py rewrites it)")
    return problems


def write(root: Path, url: str, branch: str) -> list[Path]:
    """Set the setting and rewrite what follows from it; returns the files changed."""
    url, branch = normalise_url(url), check_branch(branch)
    changed = []
    path = root / CONFIG
    old = path.read_text()
    new = config_text(old, url, branch)
    assert read_setting_from_text(new) == (url, branch)
    if new != old:
        path.write_text(new)
        changed.append(path)
    want = _source_lines(setup_cell(url, branch))
    for path in notebooks(root):
        nb = json.loads(path.read_text())
        cell = setup_cell_of(nb)
        if cell is None:
            raise PublishError(f"{path}: no set-up cell (a first code cell starting with "
                               f"{MARKER!r}); add one from chapters/_template.ipynb")
        if cell["source"] != want:
            cell["source"] = want
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            changed.append(path)
    return changed


def read_setting_from_text(text: str) -> tuple[str, str]:
    repository = (yaml.safe_load(text) or {}).get("repository") or {}
    return str(repository.get("url") or ""), str(repository.get("branch") or "main")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", help="https://github.com/OWNER/REPO")
    parser.add_argument("--branch", help="the branch the buttons and set-up cells use "
                        "(default: the one in _config.yml, else main)")
    parser.add_argument("--unpublish", action="store_true",
                        help="no repository: hide the launch buttons")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if anything disagrees with _config.yml")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.root
    try:
        if args.check:
            problems = check(root)
            for problem in problems:
                print(problem, file=sys.stderr)
            url, branch = read_setting(root)
            if not problems:
                print(f"consistent: {pip_source(url, branch) or 'not published'}")
            return 1 if problems else 0
        if args.url and args.unpublish:
            parser.error("give a URL or --unpublish, not both")
        url, branch = read_setting(root)
        url = "" if args.unpublish else (args.url if args.url is not None else url)
        changed = write(root, url, args.branch or branch)
    except PublishError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    url, branch = read_setting(root)
    print(f"published at {url} (branch {branch}): set-up cells install from "
          f"{pip_source(url, branch)}; Binder and Colab buttons on" if url else
          "not published: no launch, repository or issues buttons; the set-up cells ask "
          "for COURSE_LIB_URL")
    for path in changed:
        print(f"  rewrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
