"""What an experiment leaves behind: one :class:`Record` of typed :class:`Run` s, as JSON.

A runner builds a record with :func:`make_record`, which also writes it to
``<results dir>/<profile>/<experiment>.json``; :func:`load` reads it back into the same
dataclasses. The results directory is ``$COURSE_RESULTS`` if set, else ``_results/`` in the
repository when the course runs from a checkout, else ``./course_results``. Results of the
``paper`` profile recorded on a GPU are committed in ``results/paper/``.

Every record carries :data:`SCHEMA`. Reading a file that is not a whole record of this
schema, whatever the damage (truncated, not text, not JSON, a missing field, a value of the
wrong type at any level, a record of no runs), raises a :class:`RecordError` that names the
file and what is wrong with it; nothing else escapes :func:`load`.

A record is never replaced by a worse one. Settings that would train nothing are refused
when they are made (:mod:`course_lib.profiles`), and :func:`save` refuses, before the file is
touched, a record with no runs or with any number that is not finite. A run that diverges
(a learning rate too high: the loss becomes inf or NaN) is therefore not recorded: its
runner ends with a :class:`RecordError` such as "the numpy_mlp record (smoke) is not
written: run seed 0 at learning rate 10 diverged: train loss is nan by step 10; <path> is
left as it was". Refusing, rather than storing a run marked as diverged, keeps one rule for
every reader: each number in a record is finite. Records are strict JSON (no NaN).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
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
        """The record as strict JSON; a :class:`RecordError` saying what is wrong if it has
        no runs, a non-finite number (a run that diverged) or a value of the wrong type."""
        out = dataclasses.asdict(dataclasses.replace(self, memory={}))
        del out["memory"]
        out["settings"]["experiment"] = self.experiment
        out = _plain(out)
        if not (problem := _damage(out, finite=False)):
            try:
                return json.dumps(out, indent=1, allow_nan=False)
            except (ValueError, TypeError) as err:  # a NaN or inf (name the first), or no JSON
                problem = _diverged(out) or f"{type(err).__name__}: {err}"
        raise RecordError(f"the {self.experiment} record ({self.profile}) is not written: "
                          f"{problem}")

    @classmethod
    def from_json(cls, text: str, path: str | os.PathLike = "<string>") -> Record:
        """The record in ``text``; a :class:`RecordError` naming ``path`` and what is wrong,
        whatever the damage."""
        again = "delete it and run its chapter again"
        try:
            raw = json.loads(text, parse_constant=_refuse_constant)
        except _NotJSONNumber as err:
            raise RecordError(f"{path} holds {err}, which is not a JSON number (a run that "
                              f"diverged?); {again}") from None
        except (ValueError, TypeError, RecursionError) as err:
            raise RecordError(f"{path} is not valid JSON ({type(err).__name__}: {err}); "
                              f"{again}") from None
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
            found = raw.get("schema") if isinstance(raw, dict) else type(raw).__name__
            raise RecordError(f"{path} is not a record of schema {SCHEMA} (found {found!r}); "
                              "run its chapter again")
        if problem := _damage(raw):
            raise RecordError(f"{path} is damaged: {problem}; {again}")
        try:
            settings = dict(raw.pop("settings"))
            cls_ = profiles.experiment(settings.pop("experiment")).settings
            runs = [Run(**r) for r in raw.pop("runs")]
            return cls(settings=profiles.make(cls_, **settings), runs=runs, **raw)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
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
    try:
        text = record.to_json()
    except RecordError as err:  # before the file is touched: what it holds stays
        raise RecordError(f"{err}; {path} is left as it was") from None
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
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RecordError(f"{path} cannot be read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise RecordError(f"{path} is not a text file (byte {err.object[err.start]:#04x} at "
                          f"offset {err.start} is not UTF-8): it is damaged; delete it and run "
                          "its chapter again") from None
    record = Record.from_json(text, path)
    if (record.experiment, record.profile) != (experiment, profile):
        raise RecordError(f"{path} holds the record of {record.experiment} under the "
                          f"{record.profile} profile, not of {experiment} under {profile}; "
                          "move it back where it belongs, or delete it")
    return record


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


# --- what a record's JSON form must be (both when written and when read)
class _NotJSONNumber(ValueError):
    pass


def _refuse_constant(name: str):
    raise _NotJSONNumber(name)


def _is_number(v, finite: bool = True) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v) or not finite
    except OverflowError:  # an int beyond the range of a float
        return False


_KINDS = {  # the JSON kind of each field of Record and Run, in words and as a test
    "text": (str,), "object": (dict,), "list": (list,), "whole number": (int,),
}


def _kind_ok(value, kind: str, finite: bool = True) -> bool:
    if kind.endswith(" or null"):
        return value is None or _kind_ok(value, kind[:-len(" or null")], finite)
    if kind == "number":
        return _is_number(value, finite)
    if kind == "whole number" and isinstance(value, bool):
        return False
    return isinstance(value, _KINDS[kind])


_RECORD_FIELDS = dict(experiment="text", settings="object", runs="list", device="text",
                      wall_time="number", info="object", versions="object",
                      commit="text or null", date="text", data="object",
                      schema="whole number")
_RUN_FIELDS = dict(seed="whole number", final="object", best="object", curves="object",
                   wall_time="number or null", variant="text", info="object")


def _fields(raw: dict, cls: type, kinds: dict, where: str, finite: bool) -> str | None:
    """What is wrong with the fields of ``raw``, the JSON form of a ``cls``."""
    required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING}
    if missing := sorted(required - set(raw)):
        return f"{where}has no {', '.join(missing)}"
    if unknown := sorted(set(raw) - set(kinds)):
        return f"{where}has unknown field(s) {', '.join(unknown)}"
    for name, value in raw.items():
        if not _kind_ok(value, kinds[name], finite):
            return f"{where}{name} is {_short(value)}, not {kinds[name]}"
    return None


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _damage(raw: dict, finite: bool = True) -> str | None:
    """What is wrong with ``raw``, a record's JSON form, or ``None``: a missing or unknown
    field, a value of the wrong type, no runs, metrics and curves that are not numbers
    (``finite=False``: inf and NaN count as numbers, for :func:`_diverged` to name)."""
    if problem := _fields(raw, Record, _RECORD_FIELDS, "", finite):
        return problem
    if not raw["runs"]:
        return "it has no runs"
    if raw["settings"].get("experiment") != raw["experiment"]:
        return (f"its settings are of {_short(raw['settings'].get('experiment'))}, "
                f"not of {raw['experiment']!r}")
    for i, run in enumerate(raw["runs"]):
        where = f"runs[{i}] "
        if not isinstance(run, dict):
            return f"{where}is {_short(run)}, not an object"
        if problem := _fields(run, Run, _RUN_FIELDS, where, finite):
            return problem
        for part in ("final", "best"):
            for key, value in run[part].items():
                if not (value is None or _is_number(value, finite)):
                    return f"{where}{part}[{key!r}] is {_short(value)}, not a number or null"
        for part, curve in run["curves"].items():
            if not isinstance(curve, dict):
                return f"{where}curves[{part!r}] is {_short(curve)}, not an object"
            steps = curve.get("step")
            for key, values in curve.items():
                name = f"{where}curves[{part!r}][{key!r}]"
                if not isinstance(values, list):
                    return f"{name} is {_short(values)}, not a list"
                if bad := [v for v in values if not (v is None or _is_number(v, finite))]:
                    return f"{name} holds {_short(bad[0])}, not a number or null"
                if isinstance(steps, list) and len(values) != len(steps):
                    return f"{name} has {len(values)} values for {len(steps)} steps"
    return None


def _diverged(raw: dict) -> str | None:
    """The first non-finite number of ``raw``, a record's JSON form (of the right shape), as
    a sentence: "run seed 3 diverged: train_loss is nan at step 40", or where it is."""
    for run in raw["runs"]:
        found = sorted((step, part != "train", key if part == "eval" else f"{part} {key}", v)
                       for part, curve in run["curves"].items()
                       for key, values in curve.items() if key != "step"
                       for step, v in zip(curve.get("step", []), values) if _non_finite(v)
                       and _is_number(step))  # the first step; training before evaluation
        if found:  # a curve's point at a step may average the steps before it: "by"
            where = "{2} is {3} by step {0}".format(*found[0])
        elif path := _first_non_finite(run):
            where = "{} is {}".format(*path)
        else:
            continue
        variant = f" ({run['variant']})" if run.get("variant") else ""
        lr = run.get("info", {}).get("learning_rate")
        rate = f" at learning rate {lr:g}" if _is_number(lr) else ""
        return f"run seed {run['seed']}{variant}{rate} diverged: {where}"
    if path := _first_non_finite(raw):
        return "{} is {}, not a finite number".format(*path)
    return None


def _non_finite(v) -> bool:
    return isinstance(v, float) and not math.isfinite(v)


def _first_non_finite(obj, where: str = "") -> tuple[str, float] | None:
    """``(path, value)`` of the first non-finite float in ``obj`` (dicts and lists)."""
    if _non_finite(obj):
        return where, obj
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) \
        if isinstance(obj, list) else ()
    for key, value in items:
        if found := _first_non_finite(value, f"{where}[{key!r}]" if where else str(key)):
            return found
    return None


# -- The one runner scaffold: what every experiment's runner does before and after training --

def recorded(body=None, *, device: str | None = None):
    """Make ``body(settings, data, *needs, device, show_progress)``, which trains and returns
    ``runs``, ``(runs, info)`` or ``(runs, info, memory)``, the runner that
    :data:`profiles.EXPERIMENTS` names: ``run(settings, data, *needs, device=None,
    show_progress=True) -> Record``. The runner takes its experiment's name from the registry,
    refuses settings of another type, checks the results folder before any training, resolves
    the device (``device`` here fixes it, as ``"cpu"`` for NumPy), hands ``body``
    ``data.subset(settings.train_size, settings.test_size)``, times it, and returns
    :func:`make_record` of its runs on that data."""
    import functools
    import time

    if body is None:
        return lambda f: recorded(f, device=device)
    fixed = device

    @functools.wraps(body)
    def run(settings, data, *needs, device=None, show_progress: bool = True) -> Record:
        experiment = _registered(body)
        if type(settings) is not experiment.settings:
            raise profiles.ProfileError(
                f"{experiment.name} takes {experiment.settings.__name__} settings, not "
                f"{type(settings).__name__}: profiles.settings({experiment.name!r})")
        check_writable(settings.profile)  # fail before training, not after
        device = str(fixed or device or profiles.default_device())
        data = data.subset(settings.train_size, settings.test_size)
        start = time.perf_counter()
        out = body(settings, data, *needs, device=device, show_progress=show_progress)
        runs, info, memory = (*out, {}, {})[:3] if isinstance(out, tuple) else (out, {}, {})
        record = make_record(settings, experiment.name, runs, device,
                             time.perf_counter() - start, data=data, **info)
        record.memory.update(memory)
        return record

    return run


def _registered(body) -> profiles.Experiment:
    """The experiment of :data:`profiles.EXPERIMENTS` whose runner is ``body``."""
    spec = f"{body.__module__.rpartition('.')[2]}:{body.__name__}"
    found = [e for e in profiles.EXPERIMENTS.values() if e.runner == spec]
    if not found:
        raise profiles.ProfileError(f"no experiment of profiles.EXPERIMENTS has the runner "
                                    f"{spec!r}; add one (CONTRIBUTING.md, step 3)")
    return found[0]
