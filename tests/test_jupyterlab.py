"""The chapters in JupyterLab, the way a student reads them: no raw MyST, the library's code shown.

The README's interactive route is ``jupyter lab chapters/``. This test starts JupyterLab (with
the ``jupyterlab-myst`` extension of ``requirements.txt``) on a copy of ``chapters/`` in a
temporary folder, opens each chapter in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by selenium, as ``tests/test_browser.py`` does), runs all its cells
in JupyterLab's own kernel under ``COURSE_PROFILE=smoke`` (what a student does first: the
cells that show the library's code have no stored output), and checks, per chapter:

- every cell ran without an error;
- no raw MyST is visible in the rendered markdown cells and rich outputs: no
  ``{literalinclude}``, ``{cite}``, ``{eq}``, ``:::{``, ``(eq-``, directive fences or options;
- the library's code is visible: every source-showing cell displays code, and the first line
  of at least one library object's ``inspect.getsource`` is on the page;
- solutions are not in plain view under their exercises.

It saves screenshots per chapter in ``_build/screenshots-jupyterlab/``: the first screen
(``NAME.png``), the first derivation's code (``NAME-code.png``) and, where the chapter has
exercises, the last exercise above the folded solutions (``NAME-solutions.png``).

It needs the CIFAR-10 data the chapters load (as ``pytest --nbval`` does) and takes a few
minutes on a 2-core machine, so it runs only with ``JUPYTERLAB_TEST=1`` (``.ci/run`` sets it);
``JUPYTERLAB_CHAPTERS=02_backprop,05_batchnorm`` limits it to some chapters. It skips when
selenium, chromium/chromedriver or jupyterlab is missing. The checks of the chapters' sources
at the end of this file (no ``literalinclude``, source cells hidden in the book, solutions
folded after the exercises) always run.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9]*.ipynb"))
SCREENSHOTS = ROOT / "_build" / "screenshots-jupyterlab"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
JUPYTER = Path(sys.executable).parent / "jupyter"
RUN_TIMEOUT_S = 600  # one chapter's cells under the smoke profile; a few seconds to a minute

#: Raw MyST that must not be visible in rendered markdown cells and rich outputs.
RAW_MYST = ("{literalinclude}", "{cite}", "{eq}", ":::{", "(eq-", "```{", "{ref}", "{doc}",
            "{numref}", "{exercise", "{solution", "{admonition}", "{note}", ":label:",
            ":class:", ":pyobject:")

#: Per chapter, one library object whose code the chapter shows: the first line of its own
#: source (``inspect.getsource``) must be visible in the chapter's outputs.
SHOWN = {
    "01_cifar10": "course_lib.data:preprocess",
    "02_backprop": "course_lib.numpy_modules:cross_entropy_backward",
    "03_numpy_mlp": "course_lib.numpy_mlp:sgd_step",
    "04_pytorch_mlp": "course_lib.torch_mlp:train_torch_mlp",
    "05_batchnorm": "course_lib.batchnorm:CustomBatchNormManualFunction",
    "06_layers_by_hand": "course_lib.layers:Conv2dModule",
    "07_cnn": "course_lib.convnet:ConvNet",
    "08_recipe": "course_lib.recipe:smoothed_cross_entropy_backward",
    "09_reproduction": "course_lib.reproduction:judge",
}


def _selected() -> list[str]:
    wanted = os.environ.get("JUPYTERLAB_CHAPTERS")
    if not wanted:
        return CHAPTERS
    return [c for c in CHAPTERS if any(c.startswith(w.strip()) for w in wanted.split(","))]


def _first_line(spec: str) -> str:
    module, name = spec.split(":")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return inspect.getsource(obj).splitlines()[0].strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: User settings for the test's JupyterLab: every cell in the page (no virtual scrolling), no
#: autosave, and nothing fetched from outside.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a copy of chapters/ (127.0.0.1, a free port); yields its base URL."""
    if not os.environ.get("JUPYTERLAB_TEST"):
        pytest.skip("JupyterLab check not requested: JUPYTERLAB_TEST=1 pytest "
                    "tests/test_jupyterlab.py (as .ci/run does)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("no browser: the selenium package is not installed")
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("no browser: install Debian's chromium and chromium-driver")
    if not JUPYTER.exists() or importlib.util.find_spec("jupyterlab") is None:
        pytest.skip("jupyterlab is not installed (bash scripts/setup.sh)")
    tmp = tmp_path_factory.mktemp("jupyterlab")
    shutil.copytree(ROOT / "chapters", tmp / "root" / "chapters",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "_template.ipynb"))
    for name, values in SETTINGS.items():
        path = tmp / "settings" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    token, port = "course-test", _free_port()
    env = dict(os.environ, COURSE_PROFILE="smoke", COURSE_RESULTS=str(tmp / "results"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    log = open(tmp / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp / 'root'}",
         "--allow-root", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
         "--LabApp.extension_manager=readonly"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start:\n"
                                + (tmp / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab, headless_chromium):
    driver = headless_chromium({"browser": "ALL"}, 120, RUN_TIMEOUT_S)
    yield driver
    driver.quit()


# JavaScript run in JupyterLab (window.jupyterapp: --LabApp.expose_app_in_browser) -----------
OPEN_NOTEBOOK = """
const [path, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  for (let i = 0; i < 600 && !window.jupyterapp; i++) await new Promise(r => setTimeout(r, 100));
  const app = window.jupyterapp;
  if (!app) return "JupyterLab did not start in the page";
  await app.started; await app.restored;
  let panel = null;
  for (let i = 0; i < 600; i++) {
    panel = app.shell.currentWidget;
    if (panel && panel.context && panel.context.path === path) break;
    await new Promise(r => setTimeout(r, 100));
  }
  if (!panel || !panel.context || panel.context.path !== path) return "notebook did not open";
  await panel.context.ready; await panel.sessionContext.ready; await panel.revealed;
  app.shell.collapseLeft();
  return "ok";
})().then(done, (err) => done("error: " + err));
"""

RUN_ALL = """
const done = arguments[arguments.length - 1];
(async () => {
  const app = window.jupyterapp, panel = app.shell.currentWidget;
  const ok = await app.commands.execute("notebook:run-all-cells");
  const errors = [];
  panel.content.widgets.forEach((cell, i) => {
    if (cell.model.type !== "code") return;
    cell.model.sharedModel.outputs.forEach((out) => {
      if (out.output_type === "error") errors.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
    });
  });
  // Let the renderers (markdown, MathJax, myst) settle.
  await new Promise(r => setTimeout(r, 3000));
  return {ok: ok, errors: errors};
})().then(done, (err) => done({ok: false, errors: ["run-all failed: " + err]}));
"""

CELL_FACTS = """
const panel = window.jupyterapp.shell.currentWidget;
return panel.content.widgets.map((cell, i) => {
  const facts = {index: i, type: cell.model.type, tags: cell.model.getMetadata("tags") || [],
                 source: cell.model.sharedModel.getSource(), text: "", outputs: []};
  if (cell.model.type === "markdown") {
    const input = cell.node.querySelector(".jp-Cell-inputWrapper");
    facts.text = input ? input.innerText : "";
  } else if (cell.model.type === "code") {
    cell.node.querySelectorAll(".jp-OutputArea-output").forEach((out) => {
      // prose: the text outside code blocks (the library's docstrings may hold Sphinx roles)
      let prose = out.innerText;
      out.querySelectorAll("pre").forEach((pre) => { prose = prose.replace(pre.innerText, ""); });
      facts.outputs.push({mime: out.getAttribute("data-mime-type") || "", text: out.innerText,
                          prose: prose, code: out.querySelectorAll("pre").length});
    });
  }
  return facts;
});
"""

CLOSE_NOTEBOOK = """
const done = arguments[arguments.length - 1];
const panel = window.jupyterapp.shell.currentWidget;
if (!panel || !panel.sessionContext) { done("nothing open"); return; }
panel.sessionContext.shutdown().then(() => { panel.dispose(); done("ok"); },
                                      (err) => done("error: " + err));
"""

SCROLL_TO_CELL = """
const cell = window.jupyterapp.shell.currentWidget.content.widgets[arguments[0]];
cell.node.scrollIntoView({block: "start"});
"""

STREAMS = ("application/vnd.jupyter.stdout", "application/vnd.jupyter.stderr")


def _show_cells(cells) -> list[dict]:
    """The cells that show library code: code cells calling ``show(``."""
    return [c for c in cells if c["type"] == "code" and c["source"].lstrip().startswith("show(")]


@pytest.mark.parametrize("chapter", _selected())
def test_chapter_reads_in_jupyterlab(chapter, lab, browser):
    base, token = lab
    path = f"chapters/{chapter}.ipynb"
    browser.get(f"{base}/lab/tree/{path}?reset&token={token}")  # reset: no earlier tabs
    opened = browser.execute_async_script(OPEN_NOTEBOOK, path)
    assert opened == "ok", f"{chapter}: {opened}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        _read_chapter(chapter, browser)
    finally:
        browser.execute_async_script(CLOSE_NOTEBOOK)  # its kernel too: one chapter at a time


def _read_chapter(chapter, browser):
    run = browser.execute_async_script(RUN_ALL)
    cells = browser.execute_script(CELL_FACTS)
    browser.execute_script(SCROLL_TO_CELL, 0)
    time.sleep(0.5)
    browser.save_screenshot(str(SCREENSHOTS / f"{chapter}.png"))

    # The first derivation's code: the first source-showing cell, or (before it existed) the
    # first markdown cell that names the library file.
    shows = _show_cells(cells)
    target = shows[0]["index"] if shows else next(
        (c["index"] for c in cells if ":pyobject:" in c["text"]), None)
    if target is not None:
        browser.execute_script(SCROLL_TO_CELL, max(target - 1, 0))
        time.sleep(0.5)
        browser.save_screenshot(str(SCREENSHOTS / f"{chapter}-code.png"))
    solutions = next((c["index"] for c in cells if c["source"].startswith("## Solutions")), None)
    if solutions is not None:
        browser.execute_script(SCROLL_TO_CELL, solutions - 1)
        time.sleep(0.5)
        browser.save_screenshot(str(SCREENSHOTS / f"{chapter}-solutions.png"))

    problems = [f"error in {e}" for e in run["errors"]]
    if not run["ok"] and not run["errors"]:
        problems.append("run-all did not finish")

    # No raw MyST in what the student reads.
    for cell in cells:
        texts = [cell["text"]] + [o["prose"] for o in cell["outputs"] if o["mime"] not in STREAMS]
        for text in texts:
            for raw in RAW_MYST:
                if raw in text:
                    i = text.index(raw)
                    problems.append(f"cell {cell['index']}: raw MyST {raw!r} visible: "
                                    f"...{text[max(0, i - 60):i + 60]!r}...")

    # The library's code is shown.
    output_text = "\n".join(o["text"] for c in cells for o in c["outputs"])
    if not shows:
        problems.append("no cell shows library code (show(...))")
    for cell in shows:
        if not any(o["code"] and o["text"].strip() for o in cell["outputs"]):
            problems.append(f"cell {cell['index']} ({cell['source'].strip()}) shows no code")
    first = _first_line(SHOWN[chapter])
    if first not in output_text:
        problems.append(f"the library's {SHOWN[chapter]} ({first!r}) is not visible")

    # Solutions are folded: only their title shows.
    for cell in cells:
        if cell["type"] == "markdown" and cell["source"].startswith(":::{solution}"):
            text = cell["text"].strip()
            if not text.startswith("Solution") or len(text) > 80:
                problems.append(f"cell {cell['index']}: solution not folded: {text[:120]!r}")

    assert not problems, f"{chapter}:\n  " + "\n  ".join(problems)


# The chapters' sources (no browser) -----------------------------------------------------------
GATED = ("{exercise-start}", "{exercise-end}", "{solution-start}", "{solution-end}")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_source_reads_in_notebooks(chapter):
    """No literalinclude (its code is invisible in a notebook): ``show`` cells, hidden in the
    book; exercises as one-cell directives; solutions after all exercises, folded."""
    cells = json.loads((ROOT / "chapters" / f"{chapter}.ipynb").read_text())["cells"]
    problems, exercises, solutions, heading, shows = [], [], [], None, 0
    for i, cell in enumerate(cells):
        text, tags = "".join(cell["source"]), cell["metadata"].get("tags", [])
        problems += [f"cell {i}: {raw}" for raw in ("{literalinclude}", *GATED) if raw in text]
        if cell["cell_type"] == "code" and text.lstrip().startswith("show("):
            shows += 1
            if "remove-input" not in tags:
                problems.append(f"cell {i}: {text!r} is not tagged remove-input")
        if cell["cell_type"] != "markdown":
            if heading is not None and not ("hide-cell" in tags and
                                            cell["metadata"].get("jupyter", {}).get(
                                                "source_hidden")):
                problems.append(f"cell {i}: a solution's code is not folded (hide-cell, "
                                "jupyter.source_hidden)")
            continue
        if text.startswith(":::{exercise}"):
            exercises.append(i)
        elif text.startswith(":::{solution}"):
            solutions.append(i)
            if ":class: dropdown" not in text:
                problems.append(f"cell {i}: a solution without :class: dropdown")
        elif text.startswith("## Solutions"):
            heading = i
        elif heading is not None and text.startswith("#"):
            heading = None  # a later section: its code cells are not solutions
    if not shows:
        problems.append("no cell shows library code (show(...))")
    if len(exercises) != len(solutions):
        problems.append(f"{len(exercises)} exercises but {len(solutions)} solutions")
    if solutions and not (max(exercises) < min(solutions)
                          and any("## Solutions" in "".join(c["source"]) for c in cells)):
        problems.append("the solutions are not in a Solutions section after every exercise")
    assert not problems, f"{chapter}:\n  " + "\n  ".join(problems)


def test_no_page_uses_literalinclude():
    pages = [ROOT / "intro.md", *sorted((ROOT / "chapters").glob("*.md"))]
    assert [p.name for p in pages if "{literalinclude}" in p.read_text()] == []


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_names_code_it_shows(chapter):
    """SHOWN names, for every chapter, a library object that one of its ``show`` cells
    displays (without an entry, the browser test above fails in CI's last stage)."""
    assert chapter in SHOWN, (f"add \"{chapter}\": \"course_lib.MODULE:OBJECT\" to SHOWN in "
                              "tests/test_jupyterlab.py (CONTRIBUTING.md, rule 4)")
    assert _first_line(SHOWN[chapter])  # the object exists and has source
    name = SHOWN[chapter].rsplit(".", 1)[-1].rsplit(":", 1)[-1]
    cells = json.loads((ROOT / "chapters" / f"{chapter}.ipynb").read_text())["cells"]
    assert any(c["cell_type"] == "code" and "".join(c["source"]).lstrip().startswith("show(")
               and re.search(rf"\b{name}\b", "".join(c["source"])) for c in cells), \
        f"{chapter} has no show(...) cell of {SHOWN[chapter]}"
