"""Recording every training experiment's outcome as one small JSON file.

``record(...)`` writes ``<results dir>/<profile>/<experiment>.json`` with the experiment's
name, profile, settings, device, library versions, date, git commit, total wall time and
one entry per run (seed, variant, final and best metrics, curves, wall time). The
reproduction page reads them back with :func:`load`.

The results directory is ``$COURSE_RESULTS`` if set, else ``_results/`` in the
repository when the course runs from a checkout, else ``./course_results``.
Results recorded under ``paper`` on a GPU are committed in ``results/`` (see the README).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path

ENV_VAR = "COURSE_RESULTS"
_REPO = Path(__file__).resolve().parents[1]
#: Where GPU ``paper`` results are committed in the repository.
RECORDED_DIR = _REPO / "results"


def results_dir() -> Path:
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    if (_REPO / "_toc.yml").is_file():
        return _REPO / "_results"
    return Path.cwd() / "course_results"


def _versions() -> dict:
    import numpy

    out = {"python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import torch

        out["torch"] = torch.__version__
        if torch.cuda.is_available():
            out["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    out["cpu"] = platform.processor() or platform.machine()
    out["cpu_count"] = os.cpu_count()
    return out


def _commit() -> str | None:
    if os.environ.get("COURSE_COMMIT"):  # set where the code runs outside a git checkout
        return os.environ["COURSE_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=_REPO, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _plain(obj):
    """Make NumPy scalars and arrays JSON-friendly."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


def record(experiment: str, profile: str, settings: dict, runs: list[dict], device: str,
           wall_time: float, directory: str | os.PathLike | None = None, **extra) -> Path:
    """Write one experiment's outcome; returns the file's path.

    Each run is a dict with at least ``seed`` and ``final`` (metrics at the end) and
    usually ``best``, ``curves`` and ``wall_time``; ``extra`` adds top-level fields.
    """
    for run in runs:
        if "seed" not in run or "final" not in run:
            raise ValueError("every run needs 'seed' and 'final'")
    out = {
        "experiment": experiment, "profile": profile, "settings": settings, "device": device,
        "versions": _versions(), "commit": _commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time": wall_time, "runs": runs, **extra,
    }
    path = Path(directory or results_dir()) / profile / f"{experiment}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_plain(out), indent=1))
    tmp.replace(path)
    return path


def load(experiment: str, profile: str, directory: str | os.PathLike | None = None) -> dict | None:
    """The recorded outcome of ``experiment`` under ``profile``, or ``None`` if there is none."""
    path = Path(directory or results_dir()) / profile / f"{experiment}.json"
    return json.loads(path.read_text()) if path.is_file() else None
