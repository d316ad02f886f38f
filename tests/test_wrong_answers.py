"""The bank of wrong answers (``tests/wrong_answers.py``) against the grader and the chapters.

Each answer is written into a copy of the assignment edition whose other functions are the
reference's; the grader (each function in its own process) must mark exactly the answer's
target WRONG, naming what differs, or pass it where the answer is a correct one in another
style. Answers of unrelated tasks share a copy, and the grader's forkserver (PyTorch imported
once) serves them all. The robustness cases (a hang, ``sys.exit``, ``os._exit``, a module that
does not import, a renamed function) still give all 22 rows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import load_script
from wrong_answers import BANK, Answer

from course_lib import grader

ROOT = Path(__file__).resolve().parent.parent
ma = load_script("make_assignment")
ANSWERS = [a for answers in BANK.values() for a in answers]


def test_the_bank_has_two_wrong_answers_per_task_and_names_real_functions():
    assert set(BANK) == set(grader.BY_NAME)
    for task, answers in BANK.items():
        assert sum(a.wrong for a in answers) >= 2, task
        assert all(a.target == task and set(a.bodies) <= set(grader.BY_NAME) for a in answers)
    assert sum(a.wrong for a in ANSWERS) >= 44


def _related(name: str) -> set[str]:
    """The tasks whose checks build on ``name``, those it builds on, and itself."""
    return {name, *grader.BY_NAME[name].uses} | {t.name for t in grader.TASKS if name in t.uses}


def rounds(answers: list[Answer]) -> list[list[Answer]]:
    """The answers in groups that can share one copy: no two touch related functions."""
    groups: list[tuple[list[Answer], set[str]]] = []
    for answer in answers:
        touched = set().union(*map(_related, answer.bodies))
        for group, taken in groups:
            if not touched & taken:
                group.append(answer)
                taken |= touched
                break
        else:
            groups.append(([answer], touched))
    return [group for group, _ in groups]


def with_answers(text: str, bodies: dict[str, str]) -> str:
    """A reference source whose solution regions of ``bodies`` hold those lines instead."""
    lines = text.splitlines(keepends=True)
    for region in reversed(ma.regions(text)):
        if region.function in bodies:
            body = textwrap.dedent(bodies[region.function]).strip("\n").splitlines()
            lines[region.begin:region.end + 1] = [
                (region.indent + line).rstrip() + "\n" for line in body]
    return "".join(lines)


def student_copy(edition: Path, dest: Path, answers: list[Answer], whole: bool = False) -> Path:
    """``dest``: the edition (its library only, unless ``whole``) with the reference's solutions
    and the answers in place of its stubs."""
    if whole:
        shutil.copytree(edition, dest, symlinks=True)
    else:
        shutil.copytree(edition / "course_lib", dest / "course_lib")
        (dest / "scripts").mkdir()
        shutil.copy2(edition / "scripts/grade.py", dest / "scripts/grade.py")
    bodies = {name: body for a in answers for name, body in a.bodies.items()}
    for module in {t.module for t in grader.TASKS}:
        text = (ROOT / "course_lib" / f"{module}.py").read_text()
        (dest / "course_lib" / f"{module}.py").write_text(with_answers(text, bodies))
    return dest


def run_grader(folder: Path, *args: str, timeout: float = 300) -> tuple[int, dict]:
    result = subprocess.run([sys.executable, "scripts/grade.py", "--json", *args], cwd=folder,
                            env={**os.environ, "PYTHONPATH": str(folder)},
                            capture_output=True, text=True, timeout=timeout)
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr[-3000:]
    return result.returncode, json.loads(lines[-1])


def test_every_answer_of_the_bank_is_graded_as_it_should_be(edition, tmp_path):
    failures = []
    for i, group in enumerate(rounds(ANSWERS)):
        folder = student_copy(edition, tmp_path / f"round{i}", group)
        names = set().union(*(_related(n) for a in group for n in a.bodies))
        grades = {g.task.name: [g.implemented, g.result, g.interface]
                  for g in grader.grade_all(names, course=folder)}
        for answer in group:
            result = grades[answer.target][1]
            if answer.wrong:
                ok = result.startswith("WRONG: ") and answer.expect in result
            else:
                ok = result == "correct"
            for other in list(answer.bodies)[1:]:  # the correct helpers of an answer
                ok &= grades[other][1] == "correct"
            if not ok:
                failures.append((answer.target, answer.name, result))
        touched = {n for a in group for n in a.bodies}
        for name in set(names) - touched:  # the reference's functions beside the answers
            result = grades[name][1]
            wrong_inputs = [a.target for a in group if a.wrong and a.target in grader.BY_NAME[
                name].uses]
            if result != "correct" and not (wrong_inputs and result.startswith(
                    f"depends on {wrong_inputs[0]}, which is wrong")):
                failures.append((name, "the reference's, beside " + str(
                    [a.name for a in group]), result))
    assert not failures, "\n".join(map(str, failures))


ROBUSTNESS = {  # module -> (function, the lines of its region) written into one copy
    "softmax": "while True:\n    pass",
    "ReLUModule.forward": "import os\nos._exit(0)",
    "cross_entropy": "import sys\nsys.exit(3)",
    "adam": "return w, m, v",
}


def test_a_hang_an_exit_a_syntax_error_and_a_renamed_function_still_give_every_row(
        edition, tmp_path):
    answers = [Answer("robustness", {name: body}, "") for name, body in ROBUSTNESS.items()]
    folder = student_copy(edition, tmp_path / "student", answers)
    layers = folder / "course_lib/layers.py"
    layers.write_text(layers.read_text().replace("def output_size(", "def output_size(:", 1))
    optim = folder / "course_lib/optim.py"
    optim.write_text(optim.read_text().replace("def adam(", "def adam_rule(", 1))
    grades = {g.task.name: [g.implemented, g.result, g.interface]
              for g in grader.grade_all(timeout=5, course=folder)}
    assert set(grades) == set(grader.BY_NAME)
    assert grades["softmax"][1] == "WRONG: timed out after 5 s (an endless loop?)"
    assert "before the check finished" in grades["ReLUModule.forward"][1]
    assert grades["cross_entropy"][1] == "WRONG: called sys.exit(3)"
    assert grades["adam"][1].startswith("missing: course_lib/optim.py has no adam")
    for task in grader.TASKS:
        if task.module == "layers":
            assert grades[task.name][1].startswith("error: layers.py does not import: "
                                                   "SyntaxError at line"), grades[task.name]
    assert grades["softmax_backward"][1] == "correct"  # the others are graded as usual


def test_the_untouched_edition_fails_with_a_nonzero_exit_code(edition):
    code, grades = run_grader(edition, "softmax", "LinearModule.backward")
    assert code == 1 and grades["softmax"][:2] == [False, "not implemented"]
    assert grades["LinearModule.backward"][1] == "needs LinearModule.forward"


# -- the chapters ----------------------------------------------------------------------------------

CHAPTERS = ("02_backprop", "05_batchnorm", "06_layers_by_hand")


def one_wrong_answer_per_task() -> list[Answer]:
    """The first wrong answer of each task whose functions no answer before it touches."""
    picked, touched = [], set()
    for answers in BANK.values():
        answer = next(a for a in answers if a.wrong and not set(a.bodies) & touched)
        picked.append(answer)
        touched |= set(answer.bodies)
    return picked


@pytest.fixture(scope="module")
def wrong_edition(edition, tmp_path_factory) -> Path:
    return student_copy(edition, tmp_path_factory.mktemp("wrong") / "student",
                        one_wrong_answer_per_task(), whole=True)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_runs_to_the_end_and_reports_each_wrong_function(wrong_edition, tmp_path,
                                                                      chapter):
    from test_make_assignment import _execute

    text, error, _ = _execute(wrong_edition, chapter, tmp_path)
    assert error is None, str(error)[-3000:]
    lines = {line.split()[0]: line for line in text.splitlines() if line.split()
             and line.split()[0] in grader.BY_NAME}  # the lines of check_functions
    for answer in one_wrong_answer_per_task():
        if grader.BY_NAME[answer.target].chapter != chapter:
            continue
        line = lines[answer.target]
        assert "WRONG" in line or "depends on" in line, line
        if not line.split(None, 1)[1].startswith("depends on"):
            assert answer.expect in line, (answer.name, line)
    assert "AssertionError: \n" not in text and not text.rstrip().endswith("AssertionError:")


def test_the_untouched_editions_chapter_06_runs_to_the_end(edition, tmp_path):
    from test_make_assignment import _execute

    text, error, _ = _execute(edition, "06_layers_by_hand", tmp_path)
    assert error is None, str(error)[-3000:]
    assert "the whole network vs PyTorch: not checked yet, it needs functions not implemented " \
           "yet: Conv2dModule.forward" in text
    assert "DropoutModule" not in text.split("the whole network vs PyTorch")[1].split("\n")[0]
    assert "WRONG" not in text, [line for line in text.splitlines() if "WRONG" in line]
    for task in grader.TASKS:
        if task.chapter == "06_layers_by_hand":
            assert f"{task.name:<40s} not implemented yet" in text, task.name


def test_every_check_in_the_graded_chapters_can_fail_and_says_why():
    """No ``assert`` without a message, and no ``graded`` block without an assert or a check
    (chapter 06's "max-pool at a tie" printed two gradients side by side and asserted nothing)."""
    import ast

    for chapter in CHAPTERS:
        nb = json.loads((ROOT / "chapters" / f"{chapter}.ipynb").read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            tree = ast.parse("\n".join(  # IPython's %magic lines: a statement of their indent
                line[:len(line) - len(line.lstrip())] + "pass"
                if line.lstrip().startswith(("%", "!")) else line
                for line in source.splitlines()))
            for node in ast.walk(tree):
                if isinstance(node, ast.Assert):
                    assert node.msg is not None, (chapter, cell["id"], ast.unparse(node))
                if isinstance(node, ast.With) and any(
                        getattr(item.context_expr.func, "id", "") == "graded"
                        for item in node.items if isinstance(item.context_expr, ast.Call)):
                    inside = [n for stmt in node.body for n in ast.walk(stmt)]
                    assert any(isinstance(n, ast.Assert) or (
                        isinstance(n, ast.Call) and getattr(n.func, "id", "") in (
                            "check", "require")) for n in inside), (chapter, cell["id"])


def test_assignment_md_says_what_the_grader_and_the_chapters_do(edition):
    text = (edition / "ASSIGNMENT.md").read_text()
    assert "is of order 1" not in text and "1e-2 or less" in text
    assert "Chapters 2, 5 and 6 run to the end" in text and "stop at their first cell" in text
    assert "this is the test you must pass" in text and "scripts/grade.py" in text
    stub = (edition / "course_lib/numpy_modules.py").read_text()
    assert "eq. (2." in stub and "`eq-softmax-vjp`" in stub  # number and label together
