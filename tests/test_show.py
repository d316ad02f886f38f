"""course_lib.show: a chapter shows the library's own source, read when the cell runs."""

import html
import importlib
import inspect
import re
import sys
import textwrap
from pathlib import Path

import pytest

from course_lib import convnet, numpy_modules, reproduction
from course_lib.numpy_mlp import MLP
from course_lib.show import Source, show

ROOT = Path(__file__).resolve().parents[1]


def _lines(path: str) -> list[str]:
    return (ROOT / path).read_text().splitlines()


def _html_text(bundle: dict) -> str:
    """The code of the HTML output as a reader sees it: tags dropped, entities decoded."""
    pre = re.search(r"<pre>(.*)</pre>", bundle["text/html"], re.S).group(1)
    return html.unescape(re.sub(r"<[^>]+>", "", pre))


def test_a_function_is_its_own_source():
    # (A function without a student's part: show() leaves its markers out, see
    # tests/test_make_assignment.py.)
    shown = show(numpy_modules.log_softmax)
    assert shown.code == inspect.getsource(numpy_modules.log_softmax)
    lines, first = inspect.getsourcelines(numpy_modules.log_softmax)
    assert (shown.path, shown.first, shown.last) == ("course_lib/numpy_modules.py", first,
                                                     first + len(lines) - 1)
    file_lines = _lines(shown.path)[shown.first - 1:shown.last]
    assert shown.code == "\n".join(file_lines) + "\n"
    assert shown.caption == (f"course_lib/numpy_modules.py: log_softmax, "
                             f"lines {shown.first}\N{EN DASH}{shown.last}")


def test_a_class_is_shown_whole():
    shown = show(numpy_modules.SoftMaxModule)
    assert shown.code == inspect.getsource(numpy_modules.SoftMaxModule)
    assert shown.code.startswith("class SoftMaxModule") and "def backward" in shown.code


def test_a_method_is_shown_dedented_with_its_class_in_the_caption():
    shown = show(MLP.backward)
    assert shown.code == textwrap.dedent(inspect.getsource(MLP.backward))
    assert shown.code.startswith("def backward(")
    assert shown.name == "MLP.backward" and "numpy_mlp.py: MLP.backward" in shown.caption
    # The lines it names are the method's lines in the file.
    file_lines = _lines("course_lib/numpy_mlp.py")[shown.first - 1:shown.last]
    assert textwrap.dedent("\n".join(file_lines) + "\n") == shown.code


def test_a_span_runs_from_the_start_marker_to_before_the_end_marker():
    shown = show(convnet, start_at="ARCHITECTURE = [", end_before="class ConvNet")
    file_lines = _lines("course_lib/convnet.py")
    start = next(i for i, line in enumerate(file_lines) if "ARCHITECTURE = [" in line)
    end = next(i for i, line in enumerate(file_lines) if "class ConvNet" in line)
    expected = file_lines[start:end]
    while not expected[-1].strip():  # trailing blank lines are dropped
        expected.pop()
    assert shown.code == "\n".join(expected) + "\n"
    assert (shown.first, shown.last) == (start + 1, start + len(expected))
    assert shown.name == "" and shown.caption.startswith("course_lib/convnet.py, lines ")


def test_a_span_inside_an_object_and_an_open_ended_span():
    shown = show(reproduction, start_at="CLAIMS = (", end_before="# --- measuring")
    assert shown.code.startswith("CLAIMS = (") and "# --- measuring" not in shown.code
    tail = show(MLP, start_at="def backward")  # from the marker to the end of the class
    assert tail.code == textwrap.dedent(inspect.getsource(MLP)[
        inspect.getsource(MLP).index("    def backward"):]).rstrip("\n") + "\n"


@pytest.mark.parametrize("kwargs, message", [
    (dict(start_at="NO SUCH"), "start_at 'NO SUCH' not found in course_lib/convnet.py"),
    (dict(start_at="ARCHITECTURE = [", end_before="NO END"),
     "end_before 'NO END' not found in course_lib/convnet.py after 'ARCHITECTURE = ['"),
    (dict(end_before="NO END"), "end_before 'NO END' not found in course_lib/convnet.py"),
])
def test_a_missing_marker_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message) + "$"):
        show(convnet, **kwargs)


def test_the_output_is_highlighted_html_of_exactly_that_code_and_a_text_fallback():
    shown = show(numpy_modules.softmax)
    bundle = shown._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    assert _html_text(bundle) == shown.code  # nothing dropped, nothing added
    assert '<span class="k">def</span>' in bundle["text/html"]  # highlighted (Pygments)
    page = bundle["text/html"]
    assert '<div class="highlight-python notranslate"><div class="highlight">' in page
    assert html.escape(shown.caption) in bundle["text/html"]
    assert bundle["text/plain"] == f"# {shown.caption}\n{shown.code}"


def test_what_is_shown_is_the_object_it_is_given_a_stub_too(tmp_path, monkeypatch):
    """The source is read from the object when the cell runs: an assignment edition whose
    module holds a stub shows the stub in the same place."""
    (tmp_path / "student_modules.py").write_text(textwrap.dedent('''\
        def softmax_backward(dout, probs):
            """Return dL/dx for the softmax's output gradient ``dout``."""
            raise NotImplementedError("your code here")
        '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    student = importlib.import_module("student_modules")
    try:
        shown = show(student.softmax_backward)
        assert "raise NotImplementedError" in shown.code
        assert shown.code == inspect.getsource(student.softmax_backward)
        assert (shown.path, shown.first, shown.last) == ("student_modules.py", 1, 3)
        assert "raise" in _html_text(shown._repr_mimebundle_())
    finally:
        sys.modules.pop("student_modules", None)


def test_source_is_a_plain_value():
    assert show(numpy_modules.softmax) == show(numpy_modules.softmax)
    assert isinstance(show(numpy_modules.softmax), Source)
    with pytest.raises(TypeError):
        show(42)


def test_a_decorated_function_is_captioned_with_its_own_file():
    from course_lib import mlp_grid

    shown = show(mlp_grid.StackedAdam.step)  # @torch.no_grad(): torch/utils/_contextlib.py
    assert shown.path == "course_lib/mlp_grid.py", shown.path
    assert "def step(self)" in shown.code and shown.caption.endswith(
        f"lines {shown.first}\N{EN DASH}{shown.last}")
