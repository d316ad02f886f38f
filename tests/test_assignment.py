"""The assignment's grader: one test per function a student writes (``course_lib.grader.TASKS``).

Each function is checked in a process of its own (against PyTorch's result or autograd's
gradient), must keep the interface of the original (UvA 2019) template, and must not change
its arguments. At the end (after Ctrl-C too) the grades are printed as one table of all the
functions. In the reference course every function passes; in the assignment edition
(``scripts/make_assignment.py``) this file is the student's grader:
``pytest tests/test_assignment.py``.
"""

import pytest

from course_lib import grader, grading

GRADES: dict[str, grader.Grade] = {}


@pytest.fixture(scope="module", autouse=True)
def grade_table(request):
    """Print the table of grades after the module's tests, whatever their outcome."""
    yield
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        interrupted = len(GRADES) < len(grader.TASKS)
        with capture.global_and_fixture_disabled():  # shown without -s too
            print(f"\n\nThe grader ({grading.EDITION} edition):\n"
                  f"{grader.table(list(GRADES.values()), interrupted)}")


@pytest.mark.parametrize("task", grader.TASKS, ids=[t.name for t in grader.TASKS])
def test_function(task):
    grade = GRADES[task.name] = grader.grade(task, GRADES)
    if grade.implemented is False:
        pytest.fail(f"not implemented: {task.name}", pytrace=False)
    assert grade.interface == "yes", f"{task.name}: interface {grade.interface}"
    assert grade.passed, f"{task.name}: {grade.result}"


def test_the_grader_has_one_task_per_function():
    names = [t.name for t in grader.TASKS]
    assert len(set(names)) == len(names) == 22
    for task in grader.TASKS:
        assert callable(task.function), task.name
        assert task.labels and task.what and 0 < task.tol <= grading.TOL
        assert all(u in names[:names.index(task.name)] for u in task.uses), task.name
