"""The chapters' checks, which assert in this course and grade in its assignment edition.

``scripts/make_assignment.py OUT`` writes a copy of the course in which the body of every
function a student writes (the tasks of :mod:`course_lib.grader`) is replaced by ``raise
NotImplementedError("<what to implement>; see chapter N, eq. (N.M), `label`")``, and sets
:data:`EDITION` to ``"student"``. The same chapters then grade instead of assert:

* :func:`check` compares two results (arrays, or functions returning them). In the reference
  edition it prints the relative error and asserts it; in the student edition it reports
  "correct", "WRONG" (with the relative error) or "not implemented yet", and goes on.
* :func:`graded` does the same for a block of code with its own asserts.
* :func:`require` names, in one message, the functions a chapter needs that are not written
  yet; :func:`implemented_only` leaves such variants out of a comparison.

The grader that checks each function on its own (``pytest tests/test_assignment.py``) is
:mod:`course_lib.grader`.

The edition is a constant in this file, rewritten by the generator, rather than an
environment variable: the student's copy then grades wherever its chapters run (JupyterLab,
nbval, a plain kernel) with nothing to set, and the reference course can never grade by
accident.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from contextlib import contextmanager

from .gradcheck import relative_error

EDITION = "reference"  # "student" in the edition that scripts/make_assignment.py writes

TOL = 1e-7  # relative error below which an analytical gradient counts as right


def _value(x):
    return x() if callable(x) else x


def _culprit(err: NotImplementedError) -> str:
    """The function whose stub raised: its message starts with the function's name."""
    return str(err).split("(", 1)[0].strip() or "a function"


# The failures reported inside each open `graded` block (innermost last): a block that saw
# one does not also print "correct".
_open_blocks: list[list[str]] = []


def _failed(name: str) -> None:
    if _open_blocks:
        _open_blocks[-1].append(name)


def check(name: str, analytical, reference, tol: float = TOL) -> float | None:
    """Print the relative error between two results; assert it is below ``tol``.

    Either result may be a function without arguments that computes it: in the student
    edition, a stub that raises then reports "not implemented yet" and the chapter goes on.
    """
    if EDITION != "student":
        err = relative_error(_value(analytical), _value(reference))
        print(f"{name:<62s} relative error {err:.1e}")
        assert err < tol, f"{name}: relative error {err:.2e} is not below {tol:.0e}"
        return err
    try:
        err = relative_error(_value(analytical), _value(reference))
    except NotImplementedError as exc:
        print(f"{name:<62s} not implemented yet ({_culprit(exc)})")
        _failed(name)
        return None
    except Exception as exc:  # a student's code may fail in any way: report it, go on
        print(f"{name:<62s} WRONG: {type(exc).__name__}: {_first_line(exc)}")
        _failed(name)
        return None
    if not err < tol:
        _failed(name)
    verdict = "correct" if err < tol else f"WRONG (above {tol:.0e})"
    print(f"{name:<62s} relative error {err:.1e}: {verdict}")
    return err


def _first_line(exc: BaseException, width: int = 300) -> str:
    """An error's message without the tensors some libraries print after it."""
    text = str(exc).strip().splitlines()
    return (text[0][:width] if text else "(no message)")


@contextmanager
def graded(name: str):
    """A block of checks. In the reference edition it changes nothing; in the student edition
    a stub or a failed assert inside it is reported under ``name``, and the chapter goes on."""
    if EDITION != "student":
        yield
        return
    failures: list[str] = []
    _open_blocks.append(failures)
    try:
        yield
    except NotImplementedError as exc:
        if names := getattr(exc, "missing", None):  # from require()
            print(f"{name}: not checked yet, it needs functions not implemented yet: "
                  + ", ".join(names))
        else:
            print(f"{name}: not implemented yet ({_culprit(exc)})")
    except AssertionError as exc:
        print(f"{name}: WRONG: {_first_line(exc) if str(exc) else 'a check failed'}")
    except Exception as exc:
        print(f"{name}: WRONG: {type(exc).__name__}: {_first_line(exc)}")
    else:
        if not failures:  # a failed check inside has said so already
            print(f"{name}: correct")
    finally:
        _open_blocks.remove(failures)
        if failures:
            _failed(name)


@contextmanager
def implemented_only(variants: dict):
    """For the block, leave out of ``variants`` (name: a ``torch.nn`` module class taking a
    number of features) each one whose forward or backward pass is not written yet; restore
    it afterwards. Changes nothing in the reference edition."""
    original = dict(variants)
    if EDITION == "student":
        import torch

        for name, cls in original.items():
            try:
                cls(3)(torch.randn(4, 3, requires_grad=True)).sum().backward()
            except NotImplementedError as exc:
                print(f"{name}: left out, not implemented yet ({_culprit(exc)})")
                del variants[name]
            except Exception as exc:
                print(f"{name}: left out, WRONG: {type(exc).__name__}: {_first_line(exc)}")
                del variants[name]
    try:
        yield variants
    finally:
        variants.clear()
        variants.update(original)


def stub_message(function) -> str | None:
    """The message of the ``raise NotImplementedError("...")`` that is ``function``'s body in
    the student edition, or ``None`` when it is implemented."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                and getattr(node.exc.func, "id", None) == "NotImplementedError"
                and node.exc.args and isinstance(node.exc.args[0], ast.Constant)):
            return node.exc.args[0].value
    return None


def missing(*needs) -> list[str]:
    """The stub messages of the functions in ``needs`` that are not implemented yet.

    Each of ``needs`` is a function, or a chapter's name (``"02_backprop"``) for all the
    functions of the grader's tasks derived in it.
    """
    from .grader import TASKS

    functions = []
    for need in needs:
        functions += [t.function for t in TASKS if t.chapter == need] if isinstance(need, str) \
            else [need]
    return [msg for msg in map(stub_message, functions) if msg]


def check_functions(chapter: str) -> None:
    """Each function a student writes in ``chapter`` (``"02_backprop"``), checked as the grader
    checks it (:mod:`course_lib.grader`: against PyTorch, on inputs that catch the usual
    mistakes), one line per function. Asserts in the reference edition; reports in the student
    edition, where a function's check that fails because a function it builds on is wrong says
    so."""
    from .grader import TASKS, grade_here

    results: dict[str, str] = {}
    for task in (t for t in TASKS if t.chapter == chapter):
        result = grade_here(task)["result"]
        if result == "not implemented":
            result = f"not implemented yet ({task.name})"
        elif result.startswith("needs "):
            result = f"not implemented yet ({result.removeprefix('needs ')})"
        wrong = [u for u in task.uses if results.get(u, "correct") != "correct"]
        if wrong and result.startswith("WRONG"):
            result = f"depends on {wrong[0]}, which is not correct yet ({result})"
        results[task.name] = result
        print(f"{task.name:<40s} {result}")
    if EDITION != "student":
        bad = {name: r for name, r in results.items() if r != "correct"}
        assert not bad, f"not correct: {bad}"


def require(*needs) -> None:
    """Stop with one message if a function that a chapter needs is not implemented yet
    (``needs`` as for :func:`missing`). In the reference edition nothing is missing. Inside
    :func:`graded`, the block is skipped with one line naming them (``exc.missing``)."""
    if found := missing(*needs):
        error = NotImplementedError(
            "The rest of this chapter needs functions that are not implemented yet:\n"
            + "".join(f"  - {msg}\n" for msg in found)
            + "Implement them (see ASSIGNMENT.md); `pytest tests/test_assignment.py` grades "
              "them, then run this chapter again.")
        error.missing = [msg.split("(", 1)[0] for msg in found]
        raise error


def __getattr__(name: str):
    # The task table lives in course_lib.grader; scripts/make_assignment.py reads it here.
    if name == "TASKS":
        from .grader import TASKS
        return TASKS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
