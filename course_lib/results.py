"""What an experiment leaves behind: one :class:`Record` of typed :class:`Run` s, as JSON.

A runner builds a record with :func:`make_record`, which also writes it to
``<results dir>/<profile>/<experiment>.json``; :func:`load` reads it back into the same
dataclasses. The results directory is ``$COURSE_RESULTS`` if set, else ``_results/`` in the
repository when the course runs from a checkout, else ``./course_results``. Results of the
``paper`` profile recorded on a GPU are committed in ``results/paper/``.

Every record carries :data:`SCHEMA`; a file that is not a record of this schema raises a
:class:`RecordError` that names it.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import profiles

SCHEMA = 2
ENV_VAR = "COURSE_RESULTS"
_REPO = Path(__file__).resolve().parents[1]
#: Where GPU ``paper`` results are committed in the repository.
RECORDED_DIR = _REPO / "results"


class RecordError(RuntimeError):
    """A record that cannot be read or written; the message names the file."""


@dataclass
class Run:
    """One trained model: its seed, the metrics at its end and at its best, and its curves."""

    seed: int
    final: dict
    best: dict
    curves: dict
    wall_time: float | None  # None where models trained together share their time
    variant: str = ""
    info: dict = field(default_factory=dict)  # what else identifies it (config, lr, ...)

    def at(self, step: int, metric: str = "test_accuracy", curve: str = "eval",
           window: int | None = None) -> float | None:
        """``metric`` of ``curve`` ("eval": the evaluations; "train": the training-batch
        averages) at ``step``, or ``None`` if the curve has no point there. With ``window``,
        the mean of the curve's points in the ``window`` steps up to ``step`` (e.g. the
        training accuracy over the 100 steps before an evaluation)."""
        if curve not in self.curves:
            raise KeyError(f"no {curve!r} curve; the run has {sorted(self.curves)}")
        c = self.curves[curve]
        if metric not in c:
            raise KeyError(f"no {metric!r} in the {curve} curve; it has {sorted(c)}")
        if step not in c["step"]:
            return None
        if window is None:
            return c[metric][c["step"].index(step)]
        steps = np.asarray(c["step"])
        return float(np.mean(np.asarray(c[metric])[(steps > step - window) & (steps <= step)]))


@dataclass
class Record:
    experiment: str
    settings: profiles.Settings
    runs: list[Run]
    device: str
    wall_time: float
    info: dict = field(default_factory=dict)  # experiment-wide results (selections, rungs)
    versions: dict = field(default_factory=dict)
    commit: str | None = None
    date: str = ""
    data: dict = field(default_factory=dict)  # data.fingerprint of what it trained on
    schema: int = SCHEMA
    memory: dict = field(default_factory=dict, repr=False)  # large arrays, never written

    @property
    def profile(self) -> str:
        return self.settings.profile

    @property
    def full_scale(self) -> bool:
        return profiles.full_scale(self.settings)

    @property
    def data_label(self) -> str:
        """Which data it trained on: ``offline JPEG rebuild (c67ad0c5efe6)``."""
        return f"{self.data.get('kind', 'unknown data')} ({self.data.get('hash', '?')})"

    def select(self, **match) -> list[Run]:
        """The runs whose ``variant`` or ``info`` entries equal ``match``, in recorded order."""
        return [r for r in self.runs
                if all((r.variant if k == "variant" else r.info.get(k)) == v
                       for k, v in match.items())]

    def finals(self, metric: str = "test_accuracy", **match) -> np.ndarray:
        """``metric`` at the end of every run matching ``match``, in seed order."""
        return np.array([r.final[metric] for r in sorted(self.select(**match),
                                                        key=lambda r: r.seed)])

    def to_json(self) -> str:
        out = dataclasses.asdict(dataclasses.replace(self, memory={}))
        del out["memory"]
        out["settings"]["experiment"] = self.experiment
        return json.dumps(_plain(out), indent=1)

    @classmethod
    def from_json(cls, text: str, path: str | os.PathLike = "<string>") -> Record:
        try:
            raw = json.loads(text)
        except ValueError as err:
            raise RecordError(f"{path} is not valid JSON ({err}); delete it and run its "
                              "chapter again") from None
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
            found = raw.get("schema") if isinstance(raw, dict) else type(raw).__name__
            raise RecordError(f"{path} is not a record of schema {SCHEMA} (found {found!r}); "
                              "run its chapter again, or scripts/migrate_results.py on it")
        try:
            settings = dict(raw.pop("settings"))
            cls_ = profiles.experiment(settings.pop("experiment")).settings
            runs = [Run(**r) for r in raw.pop("runs")]
            return cls(settings=profiles.make(cls_, **settings), runs=runs, **raw)
        except (KeyError, TypeError, ValueError) as err:
            raise RecordError(f"{path} is damaged or of another format: "
                              f"{type(err).__name__}: {err}") from None


def results_dir() -> Path:
    value = os.environ.get(ENV_VAR)
    if value is not None and not value.strip():
        raise RecordError(f"{ENV_VAR} is set but empty; unset it or name a folder")
    if value:
        return Path(value).expanduser()
    return _REPO / "_results" if (_REPO / "_toc.yml").is_file() else Path.cwd() / "course_results"


def path_of(experiment: str, profile: str, directory=None) -> Path:
    return Path(directory or results_dir()) / profile / f"{experiment}.json"


def check_writable(profile: str, directory=None) -> Path:
    """Make sure records of ``profile`` can be written, before hours of training are spent."""
    folder = path_of("x", profile, directory).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as err:
        raise RecordError(f"cannot write results to {folder} ({err.strerror or err}); set "
                          f"{ENV_VAR} to a writable folder") from None
    return folder


def save(record: Record, directory=None) -> Path:
    """Write ``record`` atomically (a unique temporary file, then a replace), so that
    concurrent writers never tear a file; if that fails, keep it in the temp folder."""
    path = path_of(record.experiment, record.profile, directory)
    text = record.to_json()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a record is for everyone to read
        os.replace(tmp, path)
        return path
    except OSError as err:
        fd, kept = tempfile.mkstemp(prefix=f"{record.experiment}-{record.profile}-",
                                    suffix=".json")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        print(f"could not write {path} ({err}); the record is kept in {kept}", file=sys.stderr)
        return Path(kept)


def load(experiment: str, profile: str, directory=None) -> Record | None:
    """The record of ``experiment`` under ``profile``, ``None`` if there is none."""
    path = path_of(experiment, profile, directory)
    if not path.exists():
        return None
    try:
        text = path.read_text()
    except OSError as err:
        raise RecordError(f"{path} cannot be read: {err.strerror or err}") from None
    return Record.from_json(text, path)


def make_record(settings: profiles.Settings, experiment: str, runs: list[Run], device,
                wall_time: float, directory=None, data=None, **info) -> Record:
    """A runner's last line: the record of its runs on ``data`` (a CIFAR10), written, and
    returned."""
    record = Record(experiment, settings, runs, str(device), wall_time, info, _versions(),
                    _commit(), _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    dict(getattr(data, "fingerprint", None) or {}))
    save(record, directory)
    return record


def _versions() -> dict:
    out = {"python": platform.python_version(), "numpy": np.__version__,
           "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        out["torch"] = torch.__version__
        if torch.cuda.is_available():
            out["gpu"] = torch.cuda.get_device_name(0)
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
    """NumPy scalars and arrays, and tuples, as JSON-friendly values."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj.tolist() if hasattr(obj, "tolist") else obj
