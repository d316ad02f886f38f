"""Grade the assignment: ``python scripts/grade.py [--json] [--timeout S] [NAME ...]``.

One row per function a student writes (``course_lib.grader.TASKS``), each checked in a process
of its own; the exit code is 0 only when every one passes. ``pytest tests/test_assignment.py``
grades the same way. (A script rather than ``python -m course_lib.grader``: the grader's child
processes import their parent's main module again, and a script is cheap to import.)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_lib.grader import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
