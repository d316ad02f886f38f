"""The assignment's grader: one test per function a student writes (``course_lib.grading.TASKS``).

Each function must be implemented, pass its check (against a numerical gradient or PyTorch's
result) and keep the interface of the original (UvA 2019) template. At the end, the grades are
printed as one table, passed or not. In the reference course every function passes; in the
assignment edition (``scripts/make_assignment.py``) this file is the student's grader:
``pytest tests/test_assignment.py``.
"""

import pytest

from course_lib import grading

GRADES: dict[str, grading.Grade] = {}


@pytest.fixture(scope="module", autouse=True)
def grade_table(request):
    """Print the table of grades after the module's tests, whatever their outcome."""
    yield
    grades = [GRADES[t.name] for t in grading.TASKS if t.name in GRADES]
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if grades and capture is not None:
        with capture.global_and_fixture_disabled():  # shown without -s too
            print(f"\n\nThe grader ({grading.EDITION} edition):\n{grading.table(grades)}")


@pytest.mark.parametrize("task", grading.TASKS, ids=[t.name for t in grading.TASKS])
def test_function(task):
    grade = GRADES[task.name] = grading.grade(task)
    if not grade.implemented:
        pytest.fail(grading.stub_message(task.function), pytrace=False)
    assert grade.interface == "yes", f"{task.name}: interface {grade.interface}"
    assert grade.passed, f"{task.name}: {grade.result}"


def test_the_grader_has_one_task_per_function():
    names = [t.name for t in grading.TASKS]
    assert len(set(names)) == len(names)
    for task in grading.TASKS:
        assert callable(task.function), task.name
        assert task.labels and task.what and 0 < task.tol <= grading.TOL
