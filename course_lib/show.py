"""Show the library's own code in a chapter: ``show(obj)`` is the cell output of its source.

``show(softmax)`` shows a function, class or method; ``show(convnet, start_at="ARCHITECTURE",
end_before="class ConvNet")`` the lines from the first one containing ``start_at`` up to, not
including, the next one containing ``end_before``. The source is read (``inspect``) when the
cell runs: always the code that runs, never a copy, and a student's stub where there is one.
The ``# BEGIN SOLUTION`` / ``# END SOLUTION`` lines around a student's part are left out.
The output is highlighted HTML laid out as Sphinx lays out a ``literalinclude``.
"""

from __future__ import annotations

import html
import inspect
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

# The lines that mark a student's part of the code (scripts/make_assignment.py); not shown.
SOLUTION_MARKERS = ("# BEGIN SOLUTION", "# END SOLUTION")

# Colours for renderers without a Pygments style (Colab), so weak (one class) that the book's
# and JupyterLab's own (``.highlight .k``) win; in Jupyter, the editor's background.
_CSS = "".join(f":where(.course-source) :is({sel}){{{rule}}}" for sel, rule in (
    (".k,.kn,.kc,.kd,.kr,.ow,.nb,.bp", "color:#008000;font-weight:bold"),
    (".s,.s1,.s2,.sa,.sd,.si,.se", "color:#ba2121"), (".c,.c1,.cm,.ch", "color:#3d7b7b"),
    (".nf,.nc,.fm", "color:#0000ff"), (".m,.mi,.mf,.o", "color:#666666"), (".nd", "color:#aa22ff"))
) + (".jp-OutputArea-output .course-source .highlight{padding:2px 6px;"
     "background:var(--jp-cell-editor-background)}")


@dataclass(frozen=True)
class Source:
    """Lines ``first``-``last`` of the file ``path``; Jupyter displays it highlighted."""

    code: str
    path: str
    first: int
    last: int
    name: str = ""

    @property
    def caption(self) -> str:
        name = f": {self.name}" if self.name else ""
        return f"{self.path}{name}, lines {self.first}\N{EN DASH}{self.last}"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        code = highlight(self.code, PythonLexer(), HtmlFormatter())
        page = (f'<div class="course-source literal-block-wrapper docutils container">'
                f'<style>{_CSS}</style><div class="code-block-caption"><span '
                f'class="caption-text">{html.escape(self.caption)}</span></div>'
                f'<div class="highlight-python notranslate">{code}</div></div>')
        return {"text/html": page, "text/plain": f"# {self.caption}\n{self.code}"}


def show(obj, start_at: str | None = None, end_before: str | None = None) -> Source:
    """The source of ``obj`` (or of its span between two markers), displayed as a cell's output.

    A decorated function (``functools.wraps``, e.g. ``@torch.no_grad()``) is shown as written,
    captioned with its own file, not the decorator's."""
    obj = inspect.unwrap(obj)
    lines, first = inspect.getsourcelines(obj)
    path = _path(obj)
    begin = _find(lines, start_at, 0, f"start_at {start_at!r} not found in {path}")
    end = _find(lines, end_before, begin + 1, f"end_before {end_before!r} not found in {path}"
                + (f" after {start_at!r}" if start_at else ""))
    lines = lines[begin:end]
    while lines and not lines[-1].strip():
        lines.pop()
    first = max(first, 1) + begin
    last = first + len(lines) - 1
    code = "".join(line for line in lines if line.strip() not in SOLUTION_MARKERS)
    name = "" if inspect.ismodule(obj) else getattr(obj, "__qualname__", "")
    return Source(textwrap.dedent(code), path, first, last, name)


def _find(lines: list[str], marker: str | None, start: int, error: str) -> int:
    if marker is None:
        return 0 if start == 0 else len(lines)
    for i in range(start, len(lines)):
        if marker in lines[i]:
            return i
    raise ValueError(error)


def _path(obj) -> str:
    """The file of ``obj`` relative to the folder above its top-level package."""
    file = Path(inspect.getsourcefile(obj))
    module = inspect.getmodule(obj)
    top = sys.modules.get(module.__name__.partition(".")[0]) if module else None
    root = Path(top.__file__).parent.parent if hasattr(top, "__path__") else file.parent
    return file.relative_to(root).as_posix() if file.is_relative_to(root) else file.name
