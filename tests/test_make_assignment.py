"""The assignment edition (``scripts/make_assignment.py``): its stubs and their messages, no
leaks, the round trip back to the reference, and its chapters grading instead of stopping.

The edition is generated once per session into a temporary folder, from the course as
committed (``committed``: ``git archive HEAD``), which is also the reference the tests compare
it with. Its own code runs in subprocesses (and kernels) whose ``PYTHONPATH`` is the edition,
so that its ``course_lib`` is the one imported. The tests of what is left out (the working
tree, untracked files, outputs) and of the errors work on a temporary clone of the course.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import load_script

from course_lib import grading
from course_lib.show import SOLUTION_MARKERS, show

ROOT = Path(__file__).resolve().parent.parent
ma = load_script("make_assignment")

TASK_NAMES = {t.name for t in grading.TASKS}
STUBBED = sorted({f"course_lib/{t.module}.py" for t in grading.TASKS})


@pytest.fixture(scope="session")
def committed(tmp_path_factory) -> Path:
    """The course as committed at HEAD: what the edition is made from."""
    return ma.snapshot(ROOT, tmp_path_factory.mktemp("committed"))


def run_in(edition: Path, code: str, **env) -> str:
    """Run Python ``code`` with the edition's ``course_lib``; return its stdout."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=edition,
                            env={**os.environ, "PYTHONPATH": str(edition), **env},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


GRADE_ALL = """
    import json
    from course_lib import grader
    print(json.dumps({g.task.name: [g.implemented, g.result, g.interface]
                      for g in grader.grade_all()}))
"""


# -- the source: regions, markers, equation numbers ----------------------------------------------

def test_every_solution_region_is_one_task_and_every_task_has_one(committed):
    found = []
    for rel in ma.course_files():
        if rel.endswith(".py") and rel not in ma.NOT_IN_EDITION:
            found += [(rel, r.function) for r in ma.regions((committed / rel).read_text())]
    assert sorted(found) == sorted((f"course_lib/{t.module}.py", t.name)
                                   for t in grading.TASKS)


def test_regions_are_found_in_their_function():
    text = textwrap.dedent("""\
        class A:
            def f(self, x):
                y = 1
                # BEGIN SOLUTION
                return x + y
                # END SOLUTION

        def g():
            # BEGIN SOLUTION
            pass
            # END SOLUTION
        """)
    assert [(r.function, r.begin, r.end, r.indent) for r in ma.regions(text)] == [
        ("A.f", 3, 5, "        "), ("g", 8, 10, "    ")]
    for bad, error in (("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n",
                        "x.py:1: a solution region outside any function"),
                       ("def f():\n    # BEGIN SOLUTION\n    pass\n",
                        "x.py:2: # BEGIN SOLUTION never ends"),
                       ("def f():\n    pass\n    # END SOLUTION\n",
                        "x.py:3: # END SOLUTION without # BEGIN SOLUTION"),
                       ("def f(:\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n",
                        "x.py:1: ")):
        with pytest.raises(ma.EditionError) as err:
            ma.regions(bad, "x.py")
        assert str(err.value).startswith(error), err.value


@pytest.mark.parametrize("task", grading.TASKS, ids=[t.name for t in grading.TASKS])
def test_show_leaves_the_markers_out(task):
    shown = show(task.function)
    source = textwrap.dedent(inspect.getsource(task.function))
    assert any(m in source for m in SOLUTION_MARKERS)  # the function has a region
    assert not any(m in shown.code for m in SOLUTION_MARKERS)
    assert "SOLUTION" not in str(shown._repr_mimebundle_())
    assert shown.code == "".join(line for line in source.splitlines(keepends=True)
                                 if line.strip() not in SOLUTION_MARKERS)
    assert shown.last - shown.first + 1 == len(source.rstrip("\n").splitlines())


def test_show_leaves_the_markers_out_of_a_span_too():
    from course_lib import optim

    shown = show(optim, start_at="def adam", end_before="# The rule's three multiply-adds")
    assert "g = _add(g, w, weight_decay)" in shown.code and "SOLUTION" not in shown.code


def test_equation_numbers_follow_the_toc_and_the_labels():
    numbers = ma.equation_numbers()
    chapters = ma.chapter_numbers()
    assert chapters["02_backprop"] == 2 and chapters["05_batchnorm"] == 5
    assert numbers["eq-central-difference"] == "2.1"  # the first labelled equation of 02
    for chapter, n in chapters.items():
        mine = [v for v in numbers.values() if v.split(".")[0] == str(n)]
        assert mine == [f"{n}.{i}" for i in range(1, len(mine) + 1)], chapter
    for task in grading.TASKS:  # every label a stub cites exists, in a numbered chapter
        for label in task.labels:
            assert label in numbers, (task.name, label)
            path = ROOT / "chapters" / f"{task.chapter}.ipynb"
            if numbers[label].split(".")[0] == str(chapters[task.chapter]):
                assert f"$$ ({label})" in path.read_text()


def test_a_missing_label_stops_the_generator():
    task = grading.TASKS[0]
    broken = type(task)(task.name, task.module, task.chapter, ("eq-no-such-label",),
                        task.what, task.check)
    with pytest.raises(ValueError, match="eq-no-such-label"):
        ma.message(broken, ma.equation_numbers())


# -- the edition ---------------------------------------------------------------------------------

def test_the_edition_is_the_whole_course_less_the_generator(edition):
    files = {p.relative_to(edition).as_posix() for p in edition.rglob("*") if p.is_file()}
    expected = set(ma.course_files()) - set(ma.NOT_IN_EDITION) | {"ASSIGNMENT.md"}
    assert files == expected
    assert 'EDITION = "student"' in (edition / "course_lib/grading.py").read_text()
    text = (edition / "ASSIGNMENT.md").read_text()
    for task in grading.TASKS:
        assert f"`{task.name}`" in text


def test_each_stub_names_its_function_inputs_outputs_and_equation(edition):
    numbers = ma.equation_numbers()
    for rel in STUBBED:
        tree = ast.parse((edition / rel).read_text())
        stubs = {}
        for name, node in ma._functions(tree):
            raises = [n for n in ast.walk(node) if isinstance(n, ast.Raise)
                      and getattr(n.exc.func, "id", "") == "NotImplementedError"]
            if raises:
                stubs[name] = raises[0].exc.args[0].value
        tasks = {t.name: t for t in grading.TASKS if f"course_lib/{t.module}.py" == rel}
        assert set(stubs) == set(tasks), rel
        for name, msg in stubs.items():
            task = tasks[name]
            assert msg.startswith(f"{name}(") and task.what in msg
            assert "[" in msg and "->" in msg  # shapes, inputs -> outputs
            assert re.search(r"see chapter \d+, eqs?\. \(\d+\.\d+\)", msg), msg
            for label in task.labels:
                assert f"({numbers[label]})" in msg


def _normal(line: str) -> str:
    """A line without its indentation, trailing comment and repeated spaces; a commented-out
    line is the line."""
    line = re.sub(r"^#+\s*", "", line.strip())
    line = re.sub(r"\s+#.*$", "", line)
    return " ".join(line.split())


def _lines_of(path: Path) -> list[str]:
    """A file's lines; a notebook's are its cells' source lines and its outputs' lines."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return []
    if path.suffix == ".ipynb":
        return [line for cell in json.loads(text)["cells"]
                for part in ("source", "outputs") for string in _strings(cell.get(part, []))
                for line in string.splitlines()]
    return text.splitlines()


def _strings(value):
    """Every string in a cell's source or outputs (a list of strings is one text)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        yield "".join(value)
    elif isinstance(value, (list, dict)):
        for v in value.values() if isinstance(value, dict) else value:
            yield from _strings(v)


def _solutions_and_the_rest(committed: Path):
    """(lines of the solution regions, lines of the exercise solutions, lines of the library
    outside regions, lines of the whole course outside solutions), normalised."""
    regions, exercises, library, rest = set(), set(), set(), set()
    for rel in ma.course_files():
        if rel in ma.NOT_IN_EDITION:
            continue
        path = committed / rel
        if rel in STUBBED:
            lines = path.read_text().splitlines()
            inside = {i for r in ma.regions(path.read_text()) for i in range(r.begin, r.end + 1)}
            regions |= {_normal(line) for i, line in enumerate(lines) if i in inside}
            library |= {_normal(line) for i, line in enumerate(lines) if i not in inside}
            continue
        if rel.startswith("chapters/") and rel.endswith(".ipynb"):
            nb = json.loads(path.read_text())
            kept = {c.get("id") for c in ma.strip_solutions(nb)["cells"]}
            for cell in nb["cells"]:
                target = rest if cell.get("id") in kept else exercises
                target |= {_normal(line) for line in "".join(cell["source"]).splitlines()}
            continue
        lines = {_normal(line) for line in _lines_of(path)}
        rest |= lines
        if rel.startswith("course_lib/"):
            library |= lines
    return regions, exercises, library, rest | library


def test_no_line_of_a_solution_leaks_into_the_edition(edition, committed):
    """A leak is a line of the edition (any file: code, chapters' cells, Markdown) that in the
    reference occurs only in solutions. For the library's regions "only" means: nowhere else in
    the library, so that a region's line copied into a chapter or a test counts as a leak; for
    the exercises' solutions, nowhere else in the course (they reuse the chapters' own lines)."""
    secret = _secret_lines(committed)
    assert len(secret) > 300  # the regions' lines are there to be found
    assert not _leaks(edition, secret), _leaks(edition, secret)[:10]
    for path in edition.rglob("*.ipynb"):
        text = path.read_text()
        assert ":::{solution}" not in text and "# The check of this solution." not in text


def _secret_lines(committed: Path) -> set[str]:
    regions, exercises, library, rest = _solutions_and_the_rest(committed)
    secret = (regions - library - {_normal(m) for m in SOLUTION_MARKERS}) | (exercises - rest)
    secret.discard("")
    return secret


def _leaks(folder: Path, secret: set[str]) -> list[tuple[str, str]]:
    return [(path.relative_to(folder).as_posix(), line) for path in sorted(folder.rglob("*"))
            if path.is_file() for line in _lines_of(path) if _normal(line) in secret]


def test_the_leak_check_finds_a_line_of_a_region_pasted_into_a_chapter_or_its_outputs(
        edition, committed, tmp_path):
    secret = _secret_lines(committed)
    nb = json.loads((edition / "chapters/05_batchnorm.ipynb").read_text())
    nb["cells"][-1]["source"].append("\n    grad_beta = grad_output.sum(dim=0)  # pasted")
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters/05_batchnorm.ipynb").write_text(json.dumps(nb))
    executed = json.loads((edition / "chapters/02_backprop.ipynb").read_text())
    _add_shown_outputs(executed)
    (tmp_path / "chapters/02_backprop.ipynb").write_text(json.dumps(executed))
    (tmp_path / "notes.md").write_text("x = 1\n" + sorted(secret)[0] + "\n")
    assert sorted({path for path, _ in _leaks(tmp_path, secret)}) == [
        "chapters/02_backprop.ipynb", "chapters/05_batchnorm.ipynb", "notes.md"]


def test_the_untouched_edition_fails_exactly_the_marked_functions(edition, committed):
    grades = json.loads(run_in(edition, GRADE_ALL))
    assert set(grades) == TASK_NAMES
    for name, (implemented, result, interface) in grades.items():
        assert not implemented, name
        assert interface == "yes", (name, interface)
        # its own stub, or (a module's backward) the forward pass it needs first
        assert result == "not implemented" or (
            result.startswith("needs ") and result[6:] in TASK_NAMES), (name, result)
    # Nothing else changed: every other function of the stubbed modules is the reference's.
    for rel in STUBBED:
        mine = dict(ma._functions(ast.parse((committed / rel).read_text())))
        theirs = dict(ma._functions(ast.parse((edition / rel).read_text())))
        assert set(mine) == set(theirs)
        for name in set(mine) - TASK_NAMES:
            assert ast.dump(mine[name]) == ast.dump(theirs[name]), (rel, name)


def test_round_trip_the_solutions_put_back_pass_everything(edition, committed, tmp_path):
    back = tmp_path / "back"
    for path in edition.rglob("*"):
        if path.is_file():
            target = back / path.relative_to(edition)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    for rel in STUBBED:
        restored = ma.restore((edition / rel).read_text(), (committed / rel).read_text())
        assert restored == (committed / rel).read_text(), rel  # exactly the reference's file
        (back / rel).write_text(restored)
    grades = json.loads(run_in(back, GRADE_ALL))
    assert grades == {name: [True, "correct", "yes"] for name in TASK_NAMES}


def test_the_grader_catches_the_reports_relu_and_passes_what_is_right(edition, tmp_path):
    """Two functions written correctly, and the ReLU's backward pass with the report's eq. (18),
    1[x < 0] instead of 1[x > 0]: the grader says so, function by function."""
    student = tmp_path / "student"
    for path in edition.rglob("*.py"):
        target = student / path.relative_to(edition)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    write_student_code(student)
    grades = json.loads(run_in(student, GRADE_ALL))
    assert grades["ReLUModule.forward"] == [True, "correct", "yes"]
    assert grades["cross_entropy_backward"] == [True, "correct", "yes"]
    implemented, result, _ = grades["ReLUModule.backward"]
    assert implemented and result.startswith("WRONG: dL/dx where x != 0 differs"), result
    assert float(result.split()[-1].rstrip(")")) > 0.5
    others = {name: g for name, g in grades.items() if name not in STUDENT_CODE}
    assert all(not implemented and (result == "not implemented" or result.startswith("needs "))
               for implemented, result, _ in others.values()), others


STUDENT_CODE = {  # a student's code for three functions; the ReLU's backward is eq. (18)'s
    "ReLUModule.forward": ["self.x = x", "return np.maximum(x, 0)"],
    "ReLUModule.backward": ["return dout * (self.x < 0)"],
    "cross_entropy_backward": ["return -targets / probs / len(probs)"],
}


def write_student_code(edition: Path) -> None:
    """Replace three stubs of ``edition``'s ``numpy_modules.py`` by :data:`STUDENT_CODE`."""
    path = edition / "course_lib/numpy_modules.py"
    text = path.read_text()
    for name, body in STUDENT_CODE.items():
        lines = text.splitlines(keepends=True)
        node = dict(ma._functions(ast.parse(text)))[name]
        stub = next(n for n in ast.walk(node) if isinstance(n, ast.Raise))
        indent = " " * stub.col_offset
        lines[stub.lineno - 1:stub.end_lineno] = [f"{indent}{line}\n" for line in body]
        text = "".join(lines)
    path.write_text(text)


# -- what the edition is made from, and its errors ----------------------------------------------

def _clone(tmp_path: Path) -> Path:
    clone = tmp_path / "course"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    return clone


def _commit(clone: Path, message: str) -> None:
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.org",
                    "commit", "-qam", message], cwd=clone, check=True)


def _add_shown_outputs(nb: dict) -> None:
    """What running and saving a chapter leaves in it: here, the output of ``show()`` for every
    task (which holds the reference code) in its first code cell, and execution counts."""
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    code[0]["outputs"] = [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                           "data": show(task.function)._repr_mimebundle_()}
                          for task in grading.TASKS]
    for n, cell in enumerate(code, start=1):
        cell["execution_count"] = n


def _edit_notebook(path: Path, change) -> None:
    nb = json.loads(path.read_text())
    change(nb)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def test_the_edition_is_made_from_what_is_committed_without_outputs(edition, committed,
                                                                    tmp_path):
    """The issue's leak, cheaply: in a clone, chapter 05 committed with outputs, chapter 02 run
    and saved but not committed (JupyterLab autosaves), a tracked file edited, and a teacher's
    untracked file with solutions. The edition is exactly the one of the committed course."""
    clone = _clone(tmp_path)
    _edit_notebook(clone / "chapters/05_batchnorm.ipynb", _add_shown_outputs)
    _commit(clone, "chapter 05 with its outputs")
    _edit_notebook(clone / "chapters/02_backprop.ipynb", _add_shown_outputs)
    with (clone / "course_lib/layers.py").open("a") as f:
        f.write("\n# an edit in the working tree\n")
    secret = _secret_lines(committed)
    (clone / "my_solutions.py").write_text("\n".join(sorted(secret)) + "\n")
    out = tmp_path / "edition"
    ma.make(out, clone)
    assert not _leaks(out, secret), _leaks(out, secret)[:10]
    assert not (out / "my_solutions.py").exists()
    for path in out.rglob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(edition) for p in edition.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (edition / rel).read_bytes(), rel


def _fails(capsys, argv, root=ROOT) -> str:
    """Run the generator's command line, which must fail with one line and no traceback;
    returns that line."""
    with pytest.raises(SystemExit) as exit_:
        ma.main(argv, root)
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_a_solution_region_in_a_notebook_is_refused_naming_its_cell(tmp_path, capsys):
    clone = _clone(tmp_path)
    region = "def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\n"
    _edit_notebook(clone / "chapters/02_backprop.ipynb", lambda nb: nb["cells"].insert(
        3, {"cell_type": "code", "id": "a-solution", "metadata": {}, "execution_count": None,
            "outputs": [], "source": region.splitlines(keepends=True)}))
    _commit(clone, "a solution in a chapter")
    out = tmp_path / "edition"
    err = _fails(capsys, [str(out)], clone)
    assert "chapters/02_backprop.ipynb: cell 4 (id a-solution), line 2: # BEGIN SOLUTION" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course"]  # nothing left behind


def test_broken_markers_name_the_file_and_line_and_leave_nothing_behind(tmp_path, capsys):
    clone = _clone(tmp_path)
    path = clone / "course_lib/numpy_modules.py"
    lines = path.read_text().splitlines(keepends=True)
    last_begin = max(i for i, line in enumerate(lines) if line.strip() == SOLUTION_MARKERS[0])
    last_end = max(i for i, line in enumerate(lines) if line.strip() == SOLUTION_MARKERS[1])
    path.write_text("".join(lines[:last_end] + lines[last_end + 1:]))
    _commit(clone, "a region that never ends")
    out = tmp_path / "editions" / "edition"
    err = _fails(capsys, [str(out)], clone)
    assert f"course_lib/numpy_modules.py:{last_begin + 1}: # BEGIN SOLUTION never ends" in err
    assert list(out.parent.iterdir()) == []  # no partial edition, no temporary folder
    subprocess.run(["git", "checkout", "-q", "HEAD~1", "--", "course_lib"], cwd=clone,
                   check=True)
    _commit(clone, "mended")
    ma.main([str(out)], clone)  # the rerun works
    assert "wrote" in capsys.readouterr().out and (out / "ASSIGNMENT.md").is_file()
    assert [p.name for p in out.parent.iterdir()] == ["edition"]


@pytest.mark.parametrize("case", ["a file", "below a file", "not empty", "inside the course",
                                  "read-only"])
def test_an_unusable_out_is_one_clear_line(case, tmp_path, capsys, monkeypatch):
    out = tmp_path / "edition"
    expected = {"a file": "is a file", "below a file": "is a file, so",
                "not empty": "is not empty", "inside the course": "is inside the course",
                "read-only": "is read-only"}[case]
    if case == "a file":
        out.write_text("notes")
    elif case == "below a file":
        (tmp_path / "notes").write_text("notes")
        out = tmp_path / "notes" / "edition"
    elif case == "not empty":
        out.mkdir()
        (out / "old").write_text("an older edition")
    elif case == "inside the course":
        out = ROOT / "_build" / "edition"
    else:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        out = folder / "edition"
        if os.geteuid() == 0:  # root may write anywhere: make os.access say what it would
            access = os.access
            monkeypatch.setattr(os, "access", lambda p, mode: access(p, mode)
                                and Path(p) != folder)
    before = sorted(tmp_path.rglob("*"))
    assert expected in _fails(capsys, [str(out)])
    assert sorted(tmp_path.rglob("*")) == before and not (ROOT / "_build" / "edition").exists()


def test_a_course_without_git_is_one_clear_line(committed, tmp_path, capsys):
    err = _fails(capsys, [str(tmp_path / "edition")], committed)
    assert "is not a git repository" in err and not (tmp_path / "edition").exists()


# -- the edition's chapters ----------------------------------------------------------------------

def _execute(edition: Path, chapter: str, tmp_path: Path):
    """Run a chapter of the edition under the smoke profile: (what its cells printed, the
    error that stopped it or None, the ids of the code cells that ran)."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(edition / "chapters" / f"{chapter}.ipynb", as_version=4)
    env = {"PYTHONPATH": str(edition), "COURSE_PROFILE": "smoke",
           "COURSE_RESULTS": str(tmp_path / "results"), "MPLBACKEND": "Agg"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    error = None
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(edition / "chapters")}}).execute()
    except CellExecutionError as exc:
        error = exc
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    text = "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if out["output_type"] == "stream")
    executed = [cell.get("id") for cell in nb.cells
                if cell.cell_type == "code" and cell.get("execution_count")]
    return text, error, executed


def _reported_missing(text: str) -> set[str]:
    return set(re.findall(r"not implemented yet \(([\w.]+)\)", text))


@pytest.mark.parametrize("chapter", ["02_backprop", "05_batchnorm"])
def test_the_untouched_editions_derivation_chapters_run_to_the_end(edition, tmp_path, chapter):
    text, error, _ = _execute(edition, chapter, tmp_path)
    assert error is None, str(error)[-3000:]
    missing = _reported_missing(text)
    tasks = {t.name for t in grading.TASKS if t.chapter == chapter}
    assert missing and missing <= tasks, missing
    # Each check names the first missing function it calls (a module's backward pass needs its
    # forward pass first); in chapter 02 they are spread over the whole chapter.
    assert len(missing) >= (4 if chapter == "02_backprop" else 1)
    assert text.count("not implemented yet") >= (20 if chapter == "02_backprop" else 8)
    assert "WRONG" not in text and "correct" in text  # the checks of the maths alone pass


def test_the_untouched_editions_training_chapter_stops_naming_what_it_needs(edition, tmp_path):
    _, error, executed = _execute(edition, "03_numpy_mlp", tmp_path)
    assert error is not None and "NotImplementedError" in str(error)
    message = str(error)
    assert "The rest of this chapter needs functions that are not implemented yet" in message
    for task in grading.TASKS:
        assert (f"- {task.name}(" in message) == (task.chapter == "02_backprop"), task.name
    assert executed[-1] == "73dca038"  # it stopped in its first cell after the set-up


# -- the built book (when there is one) ----------------------------------------------------------

BUILT = ROOT / "_build" / "html" / "chapters"


@pytest.mark.skipif(not (BUILT / "02_backprop.html").exists(), reason="the book is not built")
def test_the_built_book_shows_no_marker_and_numbers_equations_as_the_stubs_do():
    numbers, seen = ma.equation_numbers(), 0
    for page in BUILT.glob("*.html"):
        html = page.read_text()
        assert "BEGIN SOLUTION" not in html and "END SOLUTION" not in html, page.name
        for label, number in re.findall(
                r'id="equation-(eq-[^"]+)".*?<span class="eqno">\(([\d.]+)\)', html, re.S):
            assert numbers[label] == number, (page.name, label)
            seen += 1
    assert seen == len(numbers)
