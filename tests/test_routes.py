"""The ways into the course other than a clone, tested the way a student arrives.

A clone set up with the README's commands is tested by everything else. Here:

- **course_lib on its own:** every third-party module that ``course_lib/`` imports is declared in
  ``pyproject.toml``, and so is every one the chapters import (with the ``chapters`` extra);
  ``pip install <repository>`` into an *empty* virtual environment, then
  ``import course_lib.<module>`` for every module, works.
- **Colab, simulated:** a fresh virtual environment holding only what Colab ships that the
  course needs (torch, torchvision, numpy, matplotlib, tqdm, ipykernel), no checkout on the
  path. Chapters 02 and 03 are copied to a temporary folder outside the repository and run
  there with nbclient, in a kernel of that environment, under ``COURSE_PROFILE=smoke``, with
  ``CIFAR10_ROOT`` naming the data: their own set-up cell installs ``course_lib`` from this
  repository through ``COURSE_LIB_URL=git+file://...`` (the override a fork would use). Each
  chapter starts from the same fresh environment (whatever the previous one installed is
  removed first). A last cell, added to the copy, checks that ``course_lib`` came from there
  (the environment's site-packages, installed from that URL) and that the data was read
  from ``CIFAR10_ROOT``.
- **Unpublished:** the set-up cell, with no URL in ``_config.yml`` and none in the environment,
  stops with its one message (in a real kernel of the same environment).
- **A downloaded notebook:** the same run, from the ``.ipynb`` file the built book's download
  button serves (``_build/html/_sources/...``); only after a build (``BOOK_BUILT=1``, as
  ``.ci/run``'s "downloaded notebooks" stage sets it), skipped before.
- **Binder:** ``binder/requirements.txt`` is well formed, installs the CPU builds of the torch
  and torchvision versions ``requirements.txt`` pins, and ``course_lib`` with the chapters extra
  only (no book tool-chain, no test tools). Building the image needs the network: untested.

``git+file://`` installs a commit, not a working tree: the tests install from a temporary
repository holding one commit of the working tree as it is (tracked files and new files git
does not ignore), so they test what is on disk, committed or not.

Where a CPU build of torch lies in pip's ``--find-links`` folders (this project's machines:
``/opt/wheels``), the environments use it (``PIP_CONSTRAINT``): a few hundred MB to unpack
instead of several GB of CUDA libraries. Elsewhere pip installs the torch it resolves.
``COURSE_ROUTES_TORCH=torch==X`` chooses another. Everything comes from the package index pip
is configured with (a local one here); without one these tests fail, they do not skip.
"""

from __future__ import annotations

import ast
import functools
import glob
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import load_script

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
publish_config = load_script("publish_config")
HTML = Path(os.environ.get("BOOK_HTML") or ROOT / "_build" / "html").resolve()
ROUTE_CHAPTERS = ("02_backprop", "03_numpy_mlp")
#: What Colab ships that the course needs; the set-up cell must install everything else.
COLAB = ("torch", "torchvision", "numpy", "matplotlib", "tqdm", "ipykernel")
ENV_VAR = "COURSE_LIB_URL"
KERNEL = "course-route"
CELL_TIMEOUT_S = 900
PIP_TIMEOUT_S = 1200
#: Packages of the book's tool-chain and the tests, which Binder must not install.
TOOL_CHAIN = {"jupyter-book", "sphinx", "sphinx-exercise", "sphinx-book-theme", "myst-nb",
              "myst-parser", "pytest", "nbval", "ruff", "selenium", "nbclient", "jupyterlab",
              "jupyterlab-myst", "notebook"}


def _name(requirement: str) -> str:
    from packaging.requirements import Requirement

    return re.sub(r"[-_.]+", "-", Requirement(requirement).name).lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


# course_lib declares what it imports ------------------------------------------------------------
def _third_party_imports(tree: ast.AST) -> set[str]:
    """Top-level names of the modules imported anywhere in ``tree`` (function bodies too),
    without the standard library, relative imports and course_lib itself."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "course_lib"
            and n != "__future__"}


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    import importlib.metadata

    return importlib.metadata.packages_distributions()


def _distribution(module: str) -> str:
    """The distribution that provides ``module`` here (``yaml`` -> ``pyyaml``)."""
    dists = _packages_distributions().get(module)
    assert dists, f"no installed distribution provides {module!r}"
    return re.sub(r"[-_.]+", "-", dists[0]).lower()


def test_course_lib_declares_what_it_imports():
    declared = {_name(r) for r in _pyproject()["dependencies"]}
    imported = {}
    for path in sorted((ROOT / "course_lib").glob("*.py")):
        for module in _third_party_imports(ast.parse(path.read_text())):
            imported.setdefault(_distribution(module), []).append(path.name)
    missing = {d: files for d, files in imported.items() if d not in declared}
    assert not missing, f"imported by course_lib but not in pyproject's dependencies: {missing}"
    assert {"numpy", "torch", "scipy", "pandas", "tqdm", "pygments"} <= set(imported)


def test_chapters_import_only_what_course_lib_chapters_installs():
    """Every module a chapter imports comes with ``course_lib[chapters]`` (what the set-up cell
    installs), except IPython, which is the kernel itself."""
    from IPython.core.inputtransformer2 import TransformerManager

    project = _pyproject()
    declared = {_name(r) for r in (*project["dependencies"],
                                   *project["optional-dependencies"]["chapters"])}
    missing = {}
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            code = TransformerManager().transform_cell("".join(cell["source"]))
            for module in _third_party_imports(ast.parse(code)):
                dist = _distribution(module)
                if dist not in declared | {"ipython"}:
                    missing.setdefault(dist, set()).add(path.name)
    assert not missing, f"imported by chapters, not in course_lib[chapters]: {missing}"


# Binder --------------------------------------------------------------------------------------
def _requirement_lines(path: Path) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def test_binder_installs_cpu_torch_and_course_lib_only():
    from packaging.requirements import Requirement

    lines = _requirement_lines(ROOT / "binder" / "requirements.txt")
    options = [line for line in lines if line.startswith("-")]
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"], options
    requirements = [line for line in lines if not line.startswith("-")]
    local = [line for line in requirements if line.startswith(".")]
    assert local == [".[chapters]"], "course_lib from this repository, with the chapters extra"
    pinned = {r.name: r for r in map(Requirement, (r for r in requirements if r not in local))}
    assert set(pinned) == {"torch", "torchvision"}, f"only torch and torchvision: {pinned}"

    root = {}
    for line in _requirement_lines(ROOT / "requirements.txt"):
        if not line.startswith("-"):
            r = Requirement(line)
            root[_name(line)] = r
    for name, r in pinned.items():
        (spec,) = r.specifier
        assert spec.operator == "==" and spec.version.endswith("+cpu"), \
            f"{name}: the CPU-only build, pinned ({r})"
        (root_spec,) = root[name].specifier
        assert spec.version.removesuffix("+cpu") == root_spec.version, \
            f"binder's {name} {spec.version} is not requirements.txt's {root_spec.version}"

    # What .[chapters] brings: course_lib's dependencies and the chapters extra, no tool-chain.
    project = _pyproject()
    brought = {_name(r) for r in (*project["dependencies"],
                                  *project["optional-dependencies"]["chapters"])}
    assert not brought & TOOL_CHAIN, brought & TOOL_CHAIN

    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), runtime
    from packaging.specifiers import SpecifierSet

    assert runtime.removeprefix("python-") + ".0" in SpecifierSet(project["requires-python"])


def test_binder_requirements_parse_with_pip():
    """pip itself reads the file as meant: the index option and three requirements (pip cannot
    resolve them offline, the CPU wheel index being out of reach: this is the syntax only)."""
    from pip._internal.network.session import PipSession
    from pip._internal.req.req_file import parse_requirements

    path = ROOT / "binder" / "requirements.txt"
    parsed = [p.requirement for p in parse_requirements(str(path), session=PipSession())]
    assert parsed == [line for line in _requirement_lines(path) if not line.startswith("-")]


# A fresh virtual environment ------------------------------------------------------------------
def _find_links() -> list[str]:
    dirs = os.environ.get("PIP_FIND_LINKS", "").split()
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        if ".find-links=" in line:
            dirs += line.split("=", 1)[1].strip("'\"").split()
    return dirs


def _torch_requirement() -> str | None:
    """``torch==X+cpu`` for a CPU build of torch in pip's find-links folders, if one fits this
    Python; ``$COURSE_ROUTES_TORCH`` if set; else None (pip resolves torch itself)."""
    if os.environ.get("COURSE_ROUTES_TORCH"):
        return os.environ["COURSE_ROUTES_TORCH"]
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    for folder in _find_links():
        for wheel in sorted(glob.glob(os.path.join(folder.removeprefix("file://"),
                                                   f"torch-*+cpu-{tag}-{tag}-*.whl"))):
            return "torch==" + Path(wheel).name.split("-")[1]
    return None


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a student's process: no PYTHONPATH (this checkout must not leak in),
    no virtual environment of ours, no course variables but those given."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", ENV_VAR, "COURSE_RESULTS",
                        "JUPYTER_PATH", "COURSE_PROFILE")}
    env.update(extra)
    return env


class Venv:
    """A virtual environment made with ``python -m venv``, and pip in it."""

    base: set[str] = set()  # the Colab environment's distributions (fixture ``colab``)
    kernels: Path | None = None  # the folder of its kernel spec

    def __init__(self, path: Path, env: dict[str, str]):
        self.path, self.env = path, env
        self.python = path / "bin" / "python"

    def run(self, *args: str, cwd: Path | None = None, check=True, timeout=PIP_TIMEOUT_S):
        out = subprocess.run([str(self.python), *args], capture_output=True, text=True,
                             env=self.env, cwd=cwd or self.path, timeout=timeout)
        if check and out.returncode:
            pytest.fail(f"{' '.join(args)} failed ({out.returncode}):\n"
                        f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out

    def pip(self, *args: str):
        t0 = time.perf_counter()
        out = self.run("-m", "pip", *args)
        print(f"[{time.perf_counter() - t0:5.1f} s] pip {' '.join(args)}")
        return out

    def installed(self) -> set[str]:
        out = self.run("-m", "pip", "list", "--format=json")
        return {re.sub(r"[-_.]+", "-", p["name"]).lower() for p in json.loads(out.stdout)}


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory) -> str:
    """``git+file://...`` of a temporary repository holding one commit: the working tree as
    it is (tracked files and new files that git does not ignore)."""
    if not shutil.which("git"):
        pytest.fail("git is needed for pip's git+file:// install (as on Colab for git+https)")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    dest = tmp_path_factory.mktemp("course-snapshot")
    for name in sorted(set(listed.stdout.decode().split("\0")) - {""}):
        src = ROOT / name
        if src.is_file():  # a tracked file deleted in the working tree is left out
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git = ["git", "-c", "user.name=course test", "-c", "user.email=test@localhost",
           "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "working tree"]):
        subprocess.run(git + args, cwd=dest, check=True, capture_output=True)
    return f"git+file://{dest}"


@pytest.fixture(scope="session")
def venv(tmp_path_factory):
    """An empty virtual environment (pip only), with a pip steered to a CPU torch where one
    is at hand."""
    folder = tmp_path_factory.mktemp("student")
    env = _clean_env(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    if torch := _torch_requirement():
        constraint = folder / "torch-constraint.txt"
        constraint.write_text(torch + "\n")
        env["PIP_CONSTRAINT"] = str(constraint)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True, env=env)
    print(f"[{time.perf_counter() - t0:5.1f} s] python -m venv ({torch or 'torch as resolved'})")
    venv = Venv(folder / "venv", env)
    # A current pip, as Colab and any recent Jupyter have: the one ensurepip bundles with
    # Python 3.11 (23.2) rejects git+file:/// URLs, which have no host.
    venv.pip("install", "-q", "--upgrade", "pip")
    yield venv
    shutil.rmtree(folder / "venv", ignore_errors=True)  # about 1.5 GB with a CPU torch


@pytest.fixture(scope="session")
def installed_alone(venv, snapshot) -> Venv:
    """The empty environment after ``pip install "course_lib @ git+file://..."``."""
    assert venv.installed() <= {"pip", "setuptools"}, venv.installed()
    venv.pip("install", "-q", f"course_lib @ {snapshot}")
    return venv


def test_course_lib_installs_alone(installed_alone, tmp_path):
    modules = sorted(p.stem for p in (ROOT / "course_lib").glob("*.py") if p.stem != "__init__")
    code = ("import importlib, course_lib\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module('course_lib.' + name)\n"
            "print(course_lib.__file__)\n")
    out = installed_alone.run("-c", code, cwd=tmp_path)
    assert out.stdout.strip().startswith(str(installed_alone.path)), \
        f"course_lib imported from {out.stdout.strip()}, not from the environment"


@pytest.fixture(scope="session")
def colab(installed_alone, tmp_path_factory) -> Venv:
    """The environment as Colab would have it: :data:`COLAB` and their dependencies, no
    course_lib; with a kernel spec for it."""
    venv = installed_alone
    venv.pip("uninstall", "-q", "-y", "course_lib", "scipy", "pandas")
    venv.pip("install", "-q", *COLAB)
    venv.base = venv.installed()
    assert {"torch", "numpy", "ipykernel"} <= venv.base and not {"course-lib", "scipy",
                                                                "pandas"} & venv.base
    kernels = tmp_path_factory.mktemp("kernels")
    (kernels / KERNEL).mkdir()
    (kernels / KERNEL / "kernel.json").write_text(json.dumps({
        "argv": [str(venv.python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab, simulated", "language": "python"}))
    venv.kernels = kernels
    return venv


def _fresh(venv: Venv) -> None:
    """Back to the Colab environment: remove whatever a chapter's set-up cell installed."""
    extra = venv.installed() - venv.base
    if extra:
        venv.pip("uninstall", "-q", "-y", *sorted(extra))
    assert venv.installed() == venv.base
    assert venv.run("-c", "import course_lib", check=False, cwd=venv.path).returncode == 1


CHECK_CELL = """\
# Added by tests/test_routes.py: where course_lib and the data came from.
import importlib.metadata, json, os, sys
import course_lib
from course_lib import data
assert course_lib.__file__.startswith(sys.prefix), course_lib.__file__
direct = json.loads(importlib.metadata.distribution("course_lib").read_text("direct_url.json"))
assert direct["url"] == os.environ["COURSE_LIB_URL"].removeprefix("git+"), direct
assert str(data.data_root()) == os.environ["CIFAR10_ROOT"], data.data_root()
print("course_lib from", direct["url"], "at", course_lib.__file__)
"""


def _run_notebook(path: Path, venv: Venv, workdir: Path, env: dict[str, str], check=True):
    """Run the notebook at ``path`` (copied into ``workdir``) in a kernel of ``venv``."""
    import nbformat
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    workdir.mkdir(parents=True, exist_ok=True)
    local = workdir / path.name
    shutil.copy(path, local)
    nb = nbformat.read(local, as_version=4)
    if check:
        nb.cells.append(nbformat.v4.new_code_cell(CHECK_CELL))
    km = AsyncKernelManager(kernel_name=KERNEL,
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(venv.kernels)]))
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, allow_errors=False,
                            resources={"metadata": {"path": str(workdir)}})
    t0 = time.perf_counter()
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        # The failing cell's own printed output too (pip's message, for a set-up cell).
        failed = [c for c in nb.cells if any(o.get("output_type") == "error"
                                             for o in c.get("outputs", []))]
        printed = "".join(o.get("text", "") for c in failed[:1] for o in c.outputs
                          if o.get("output_type") == "stream")
        raise AssertionError(f"{path.name} failed in {workdir}:\n{err}\n"
                             f"--- printed by the failing cell ---\n{printed[-4000:]}") from None
    finally:
        print(f"[{time.perf_counter() - t0:5.1f} s] ran {path.name} in {workdir}")
    return nb


@pytest.fixture(scope="session")
def cifar10_root() -> str:
    from course_lib import data

    root = data.data_root()
    if not (root / data.FOLDER).is_dir():
        pytest.skip(f"CIFAR-10 is not in {root} (.ci/run's data stage puts it there)")
    return str(root)


def _student_env(venv: Venv, snapshot: str, cifar10_root: str, **extra) -> dict[str, str]:
    return dict(venv.env, COURSE_PROFILE="smoke", CIFAR10_ROOT=cifar10_root,
                **{ENV_VAR: snapshot}, **extra)


def _outside_repo(tmp_path: Path) -> Path:
    assert ROOT not in tmp_path.resolve().parents
    return tmp_path / "student"


@pytest.mark.parametrize("chapter", ROUTE_CHAPTERS)
def test_colab_route(chapter, colab, snapshot, cifar10_root, tmp_path):
    _fresh(colab)
    nb = _run_notebook(ROOT / "chapters" / f"{chapter}.ipynb", colab, _outside_repo(tmp_path),
                       _student_env(colab, snapshot, cifar10_root))
    assert "course-lib" in colab.installed() - colab.base
    assert "course_lib from" in "".join(o.get("text", "") for o in nb.cells[-1].outputs)


def test_unpublished_setup_cell_stops_with_one_message(colab, tmp_path):
    """No URL in the set-up cell and none in the environment: one error, saying what to do."""
    import nbformat

    _fresh(colab)
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(publish_config.setup_cell("", "main")))
    path = tmp_path / "unpublished.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(AssertionError) as err:
        _run_notebook(path, colab, _outside_repo(tmp_path), _clean_env(), check=False)
    message = str(err.value)
    assert "RuntimeError" in message and "COURSE_LIB_URL" in message
    assert "course_lib, the course's library, is not installed" in message
    assert colab.installed() == colab.base  # nothing was installed


# The downloaded notebook ----------------------------------------------------------------------
class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a" and (href := dict(attrs).get("href")):
            self.hrefs.append(href)


def _download_link(chapter: str) -> Path:
    """The file behind the chapter page's ``.ipynb`` download button."""
    page = HTML / "chapters" / f"{chapter}.html"
    assert page.is_file(), f"no page {page}"
    parser = _Links()
    parser.feed(page.read_text())
    local = [h for h in parser.hrefs if h.endswith(".ipynb") and "://" not in h]
    assert len(set(local)) == 1, f"one .ipynb download link expected on {page.name}: {local}"
    target = (page.parent / local[0]).resolve()
    assert HTML in target.parents and target.is_file(), target
    return target


@pytest.mark.skipif(not os.environ.get("BOOK_BUILT"),
                    reason="book not built: BOOK_BUILT=1 pytest tests/test_routes.py -k "
                    "downloaded after scripts/build_book.sh (.ci/run's 'downloaded notebooks' "
                    "stage)")
@pytest.mark.parametrize("chapter", ROUTE_CHAPTERS)
def test_downloaded_notebook(chapter, colab, snapshot, cifar10_root, tmp_path):
    served = _download_link(chapter)
    # It is this chapter, set-up cell included (the book serves the source, no outputs).
    source = json.loads((ROOT / "chapters" / f"{chapter}.ipynb").read_text())
    downloaded = json.loads(served.read_text())
    assert [c["source"] for c in downloaded["cells"]] == [c["source"] for c in source["cells"]]
    _fresh(colab)
    nb = _run_notebook(served, colab, _outside_repo(tmp_path),
                       _student_env(colab, snapshot, cifar10_root))
    assert "course_lib from" in "".join(o.get("text", "") for o in nb.cells[-1].outputs)
