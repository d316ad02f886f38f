"""The report's numbers beside this build's and the recorded GPU run's (chapter 07).

Every number the report states about its results is a :class:`Claim`. A claim knows which
experiment's record holds the course's value and how to read it (a small function per
quantity); :func:`compare` turns the claims into :class:`Row` s, one per number, with this
build's value (its profile and scale), the difference to the report, a verdict, and the value
recorded under the ``paper`` profile on a GPU (``results/paper/``, committed) when there is one.

All knowledge of the record format (:func:`course_lib.results.record`) lives here: a run is a
dict with ``seed``, ``final`` (``test_accuracy``, ``step`` ...), ``best`` (``test_accuracy``,
``step``) and ``curves`` (``eval``: ``step``, ``test_accuracy`` ...). Records are read
defensively: a missing experiment is "not run"; a record whose shape this module does not
understand shows the error in its row instead of stopping the page.

Accuracies are fractions in [0, 1]; differences are in percentage points (pp). Spreads are
sample standard deviations over seeds (``ddof=1``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import profiles, results

#: How far (in seed standard deviations) a mean may be from the report's value to agree.
AGREE_STD = 2.0
#: The hyperparameters of the report's Table 1, in the table's order, and their labels.
GRID_KEYS = ("first_hidden", "weight_decay", "dropout", "learning_rate")
GRID_LABELS = {"first_hidden": "units", "weight_decay": "wd", "dropout": "dropout",
               "learning_rate": "lr"}
#: The report's Table 1 best configuration (selected on the test set).
REPORT_BEST_CONFIG = {"first_hidden": 600, "weight_decay": 0.1, "dropout": 0.1,
                      "learning_rate": 1e-4}
#: Every experiment whose record the table reads.
EXPERIMENTS = ("numpy_mlp", "torch_mlp", "mlp_grid", "mlp_best", "cnn")
#: Every experiment the provenance table lists (the table's and the chapters' other ones).
ALL_EXPERIMENTS = ("numpy_mlp", "numpy_mlp_lr", "torch_mlp", "init_ablation", "mlp_grid",
                   "mlp_best", "batchnorm_demo", "cnn")


# --------------------------------------------------------------------------- one number
@dataclass(frozen=True)
class Stat:
    """One quantity measured over seeds: ``values[i]`` belongs to ``seeds[i]``."""

    values: tuple[float, ...]
    seeds: tuple

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds; ``None`` for a single run."""
        return float(np.std(self.values, ddof=1)) if self.n > 1 else None

    @property
    def max(self) -> float:
        return float(np.max(self.values))

    @property
    def argmax_seed(self):
        return self.seeds[int(np.argmax(self.values))]

    def seed_value(self, seed=0) -> float | None:
        """The value of ``seed``, or ``None`` if that seed was not run."""
        return self.values[self.seeds.index(seed)] if seed in self.seeds else None


def over_seeds(runs: list[dict], value: Callable[[dict], float | None]) -> Stat | None:
    """``value(run)`` for every run that has one, as a :class:`Stat` (``None`` if none has)."""
    pairs = [(run.get("seed"), value(run)) for run in runs]
    pairs = [(s, v) for s, v in pairs if v is not None]
    if not pairs:
        return None
    return Stat(values=tuple(float(v) for _, v in pairs), seeds=tuple(s for s, _ in pairs))


# --------------------------------------------------------------------------- reading runs
def final_accuracy(run: dict) -> float:
    """Test accuracy at the last step of a run."""
    return run["final"]["test_accuracy"]


def best_step(run: dict) -> int:
    """The step at which a run's test accuracy was highest."""
    return run["best"]["step"]


def accuracy_at(step: int) -> Callable[[dict], float | None]:
    """A reader of the test accuracy measured at ``step`` (``None`` if not evaluated there)."""
    def read(run: dict) -> float | None:
        ev = run["curves"]["eval"]
        steps = list(ev["step"])
        return ev["test_accuracy"][steps.index(step)] if step in steps else None
    return read


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def select_runs(record: dict, **match) -> list[dict]:
    """The runs of ``record`` whose keys equal ``match`` (floats compared with a tolerance).

    A key that a run lacks does not exclude it: records without a ``variant`` or
    ``learning_rate`` field hold only one kind of run.
    """
    return [run for run in record["runs"]
            if all(k not in run or _same(run[k], v) for k, v in match.items())]


def main_runs(record: dict) -> list[dict]:
    """The runs at the experiment's own learning rate (NumPy and PyTorch MLPs).

    The report's numbers are for ``settings["learning_rate"]``; a run recorded at another rate
    (a learning-rate comparison) does not count.
    """
    lr = record.get("settings", {}).get("learning_rate")
    if isinstance(lr, (int, float)):
        return select_runs(record, learning_rate=lr)
    return list(record["runs"])


def variant_runs(variant: str) -> Callable[[dict], list[dict]]:
    """The runs of one CNN variant (``"batch_norm"`` or ``"no_batch_norm"``)."""
    def runs(record: dict) -> list[dict]:
        return [run for run in record["runs"] if run.get("variant") == variant]
    return runs


def all_runs(record: dict) -> list[dict]:
    return list(record["runs"])


# --------------------------------------------------------------------------- the grid
def run_config(run: dict) -> dict:
    """The Table 1 hyperparameters of a grid run (top-level keys or a ``config`` dict)."""
    source = run.get("config", run)
    return {k: source[k] for k in GRID_KEYS if k in source}


def _validation_accuracy(metrics: dict) -> float | None:
    for key in ("validation_accuracy", "val_accuracy", "valid_accuracy"):
        if key in metrics:
            return metrics[key]
    return None


def _selection_field(record: dict, by: str) -> dict | None:
    """A selection the grid record states itself, under one of the names it may use."""
    for key in (f"by_{by}", f"selected_by_{by}", f"best_by_{by}", f"selection_by_{by}"):
        if isinstance(record.get(key), dict):
            return record[key]
    selection = record.get("selection")
    if isinstance(selection, dict) and isinstance(selection.get(by), dict):
        return selection[by]
    return None


def grid_choice(record: dict, by: str) -> dict | None:
    """The configuration the grid selects on ``by`` (``"test"`` or ``"validation"``).

    Returns ``{"config": {...}, "test_accuracy": float | None}``. Uses the selection the
    record states when it has one (``mlp_grid`` records ``by_validation`` and ``by_test``);
    else picks the run with the highest final accuracy on ``by`` among the runs that trained
    longest (with successive halving, only the last rung's configurations are comparable).
    """
    if by not in ("test", "validation"):
        raise ValueError(f"select by 'test' or 'validation', not {by!r}")
    stated = _selection_field(record, by)
    if stated is not None:
        config = run_config(stated)
        accuracy = stated.get("test_accuracy")
        if accuracy is None and isinstance(stated.get("final"), dict):
            accuracy = stated["final"].get("test_accuracy")
        if len(config) == len(GRID_KEYS):
            return {"config": config, "test_accuracy": accuracy}
    runs = [run for run in record["runs"] if len(run_config(run)) == len(GRID_KEYS)]
    if not runs:
        return None
    def trained(run):
        return run.get("steps_trained", run["final"].get("step", 0))
    longest = max(trained(run) for run in runs)
    runs = [run for run in runs if trained(run) == longest]
    score = (lambda r: r["final"].get("test_accuracy")) if by == "test" \
        else (lambda r: _validation_accuracy(r["final"]))
    scored = [(score(run), run) for run in runs if score(run) is not None]
    if not scored:
        return None
    _, run = max(scored, key=lambda pair: pair[0])
    return {"config": run_config(run), "test_accuracy": run["final"].get("test_accuracy")}


def grid_accuracy(by: str) -> Callable[[dict], Stat | None]:
    """The final test accuracy of the configuration selected on ``by``, as a one-run Stat."""
    def measure(record: dict) -> Stat | None:
        choice = grid_choice(record, by)
        if choice is None or choice["test_accuracy"] is None:
            return None
        seed = record.get("settings", {}).get("seed", 0)
        return Stat(values=(float(choice["test_accuracy"]),), seeds=(seed,))
    return measure


def grid_config(by: str) -> Callable[[dict], dict | None]:
    def measure(record: dict) -> dict | None:
        choice = grid_choice(record, by)
        return None if choice is None else choice["config"]
    return measure


def format_config(config: dict | None) -> str:
    """``600 units, wd 0.1, dropout 0.1, lr 1e-04`` (the keys it has, in Table 1's order)."""
    if not config:
        return "not run"
    parts = []
    for key in GRID_KEYS:
        if key in config:
            v = config[key]
            text = f"{v:.0e}" if key == "learning_rate" else f"{v:g}"
            parts.append(f"{text} {GRID_LABELS[key]}" if key == "first_hidden"
                         else f"{GRID_LABELS[key]} {text}")
    return ", ".join(parts)


def config_difference(config: dict | None, reference: dict = REPORT_BEST_CONFIG) -> list[str]:
    """The Table 1 hyperparameters on which ``config`` differs from ``reference``."""
    if not config:
        return []
    return [GRID_LABELS[k] for k in GRID_KEYS
            if k in config and k in reference and not _same(config[k], reference[k])]


# --------------------------------------------------------------------------- the claims
@dataclass(frozen=True)
class Claim:
    """One number the report states about its results, and how to measure it here.

    ``kind`` is ``"accuracy"`` (fractions), ``"step"`` or ``"config"``. ``measure`` reads a
    record: a :class:`Stat` (or, for configs, a dict) or ``None`` if the record lacks it.
    ``reduce`` says which statistic of the Stat the report's value is: ``"mean"`` or ``"max"``.
    """

    key: str
    quantity: str
    where: str
    experiment: str
    kind: str
    report: float | dict
    measure: Callable[[dict], Stat | dict | None]
    report_std: float | None = None
    reduce: str = "mean"


def _stat(select: Callable[[dict], list[dict]], value: Callable[[dict], float | None]):
    return lambda record: over_seeds(select(record), value)


CLAIMS: tuple[Claim, ...] = (
    Claim("numpy_final", "NumPy MLP, test accuracy after 1,500 steps", "report 1.2",
          "numpy_mlp", "accuracy", 0.466, _stat(main_runs, final_accuracy)),
    Claim("numpy_step1000", "NumPy MLP, test accuracy at step 1,000", "report 1.2",
          "numpy_mlp", "accuracy", 0.488, _stat(main_runs, accuracy_at(1000))),
    Claim("numpy_peak_step", "NumPy MLP, step of the best test accuracy", "report 1.2",
          "numpy_mlp", "step", 1000, _stat(main_runs, best_step)),
    Claim("torch_final", "PyTorch MLP (default init), test accuracy after 1,500 steps",
          "report 2", "torch_mlp", "accuracy", 0.437, _stat(main_runs, final_accuracy)),
    Claim("grid_config_test", "Grid: best configuration selected on the test set (as Table 1)",
          "report Table 1", "mlp_grid", "config", REPORT_BEST_CONFIG, grid_config("test")),
    Claim("grid_acc_test", "Grid: test accuracy of the configuration selected on test",
          "report 2", "mlp_grid", "accuracy", 0.542, grid_accuracy("test")),
    Claim("grid_config_val", "Grid: best configuration selected on validation (the course)",
          "report Table 1", "mlp_grid", "config", REPORT_BEST_CONFIG, grid_config("validation")),
    Claim("tuned_final", "Tuned MLP: selected configuration retrained, test accuracy",
          "report 2", "mlp_best", "accuracy", 0.542, _stat(all_runs, final_accuracy)),
    Claim("cnn_mean", "CNN with BatchNorm, test accuracy, mean ± std over seeds", "report 4",
          "cnn", "accuracy", 0.770, _stat(variant_runs("batch_norm"), final_accuracy),
          report_std=0.006),
    Claim("cnn_best", "CNN with BatchNorm, best seed's test accuracy", "report 4",
          "cnn", "accuracy", 0.785, _stat(variant_runs("batch_norm"), final_accuracy),
          reduce="max"),
    Claim("cnn_no_bn", "CNN without BatchNorm, test accuracy", "report 4",
          "cnn", "accuracy", 0.738, _stat(variant_runs("no_batch_norm"), final_accuracy)),
)


# --------------------------------------------------------------------------- comparison
@dataclass
class Measured:
    """A claim measured on one record: the value, where it came from, and any read error."""

    value: Stat | dict | None = None
    profile: str | None = None
    device: str | None = None
    date: str | None = None
    error: str | None = None
    has_record: bool = False

    @property
    def found(self) -> bool:
        return self.value is not None

    @property
    def missing(self) -> str:
        """Why there is no value: no record at all, or a record without this quantity."""
        return "not in the record" if self.has_record else "not run"


@dataclass
class Row:
    claim: Claim
    build: Measured
    recorded: Measured
    scale: str = ""
    full_scale: bool = True
    verdict: str = ""
    agrees: bool | None = None


def device_of(record: dict) -> str:
    """``"cuda (NVIDIA H100 80GB HBM3)"``: the record's device and, if known, the GPU's name."""
    device = str(record.get("device", "unknown device"))
    gpu = (record.get("versions") or {}).get("gpu")
    return f"{device} ({gpu})" if gpu and gpu not in device else device


def measure(claim: Claim, record: dict | None) -> Measured:
    """``claim`` measured on ``record`` (a missing record gives an empty :class:`Measured`)."""
    if record is None:
        return Measured()
    out = Measured(profile=record.get("profile"), device=device_of(record),
                   date=str(record.get("date", ""))[:10] or None, has_record=True)
    try:
        out.value = claim.measure(record)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        out.error = f"{type(err).__name__}: {err}"
    return out


def point(claim: Claim, stat: Stat) -> float:
    """The number of ``stat`` that corresponds to the report's value (mean or max)."""
    return stat.max if claim.reduce == "max" else stat.mean


def difference(claim: Claim, stat: Stat | None) -> float | None:
    """Measured minus reported (a fraction for accuracies, steps for steps)."""
    if stat is None or claim.kind == "config":
        return None
    return point(claim, stat) - claim.report


def judge(claim: Claim, measured: Measured, full_scale: bool) -> tuple[str, bool | None]:
    """A verdict for one row: ``(text, agrees)``; ``agrees`` is ``None`` when it cannot say.

    Numbers agree when the report's value lies within :data:`AGREE_STD` seed standard
    deviations of the course's mean (the report's own std when the course has one run).
    Configurations agree when every hyperparameter is the same. A scaled-down run is not
    compared.
    """
    if measured.error:
        return "record not understood", None
    if not measured.found:
        return measured.missing, None
    if claim.kind == "config":
        diff = config_difference(measured.value)
        same = not diff
        text = "same configuration" if same else f"differs in {', '.join(diff)}"
        if not full_scale:
            return f"{text} (scaled-down search)", None
        return text, same
    if not full_scale:
        return "not comparable: scaled down", None
    stat: Stat = measured.value
    if claim.reduce == "max":
        return f"best of {stat.n} seeds (report: of 10)", None
    spread = stat.std if stat.std is not None else claim.report_std
    d = abs(difference(claim, stat))
    if spread is None:
        return "one run, no spread to compare with", None
    if spread == 0:
        return ("equal" if d == 0 else "differs (no spread over seeds)"), d == 0
    z = d / spread
    if z <= AGREE_STD:
        return f"agrees: within {z:.1f} std", True
    return f"differs: {z:.1f} std away", False


def compare(profile: str | None = None, build_dir=None, recorded_dir=None) -> list[Row]:
    """One :class:`Row` per claim: this build's records under ``profile`` (default: active)
    in ``build_dir`` (default: :func:`results.results_dir`), and the committed ``paper``
    records in ``recorded_dir`` (default: :data:`results.RECORDED_DIR`)."""
    profile = profiles.active_profile(profile)
    recorded_dir = results.RECORDED_DIR if recorded_dir is None else recorded_dir
    build_records = {e: results.load(e, profile, build_dir) for e in EXPERIMENTS}
    paper_records = {e: results.load(e, "paper", recorded_dir) for e in EXPERIMENTS}
    rows = []
    for claim in CLAIMS:
        record = build_records.get(claim.experiment)
        run_profile = (record or {}).get("profile", profile)
        scale = profiles.scale_note(claim.experiment, run_profile)
        full = run_profile == "paper" or scale == profiles.scale_note(claim.experiment, "paper")
        row = Row(claim, measure(claim, record),
                  measure(claim, paper_records.get(claim.experiment)), scale=scale,
                  full_scale=full)
        row.verdict, row.agrees = judge(claim, row.build, full)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- presentation
def pp(x: float) -> str:
    """A difference of fractions in percentage points: ``+1.2 pp``."""
    return f"{100 * x:+.1f} pp"


def format_stat(claim: Claim, stat: Stat | None) -> str:
    """``47.1% ± 0.4 (5 seeds); seed 0: 46.9%`` for accuracies, steps likewise."""
    if stat is None:
        return "not run"
    if claim.kind == "accuracy":
        fmt, unit = (lambda v: f"{100 * v:.1f}"), "%"
    else:
        fmt, unit = (lambda v: f"{v:,.0f}"), ""
    if claim.reduce == "max":
        return f"{fmt(stat.max)}{unit} (seed {stat.argmax_seed}, best of {stat.n})"
    if stat.n == 1:
        return f"{fmt(stat.values[0])}{unit} (1 run, seed {stat.seeds[0]})"
    text = f"{fmt(stat.mean)}{unit} ± {fmt(stat.std)} ({stat.n} seeds)"
    seed0 = stat.seed_value(0)
    return text + (f"; seed 0: {fmt(seed0)}{unit}" if seed0 is not None else "")


def format_difference(claim: Claim, stat: Stat | None) -> str:
    d = difference(claim, stat)
    if d is None:
        return ""
    return pp(d) if claim.kind == "accuracy" else f"{d:+,.0f} steps"


def format_report(claim: Claim) -> str:
    if claim.kind == "config":
        return format_config(claim.report)
    if claim.kind == "step":
        return f"{claim.report:,}"
    text = f"{100 * claim.report:.1f}%"
    return text + (f" ± {100 * claim.report_std:.1f}" if claim.report_std is not None else "")


def format_measured(claim: Claim, measured: Measured) -> str:
    if measured.error:
        return f"record not understood ({measured.error})"
    if not measured.found:
        return measured.missing
    if claim.kind == "config":
        return format_config(measured.value)
    return format_stat(claim, measured.value)


def format_recorded(claim: Claim, measured: Measured) -> str:
    """The recorded GPU value with its difference to the report, device and date; or ``""``."""
    if not measured.found and not measured.error:
        return ""
    text = format_measured(claim, measured)
    if measured.found and claim.kind != "config":
        text += f" [{format_difference(claim, measured.value)}]"
    return f"{text}; {measured.device}, {measured.date}"


def html_table(rows: list[Row]) -> str:
    """The comparison as an HTML table (the notebook shows it with ``IPython.display.HTML``).

    Columns: the quantity (and where the report states it), the report's value, this build's
    value (and its profile), the difference with the verdict, the recorded GPU value.
    """
    head = ["Quantity", "Report", "This build", "Difference: verdict",
            "Recorded paper run on GPU [difference]"]
    out = ['<table class="table reproduction-table" style="font-size: 0.85em">', "<thead><tr>"]
    out += [f"<th>{html.escape(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        c = row.claim
        build = html.escape(format_measured(c, row.build))
        if row.build.profile:
            size = "" if row.full_scale else ", scaled down"
            build += f"<br><small>profile {html.escape(row.build.profile)}{size}</small>"
        diff = format_difference(c, row.build.value)
        verdict = f"{diff}: {row.verdict}" if diff else row.verdict
        cells = [f"{html.escape(c.quantity)}<br><small>{html.escape(c.where)}</small>",
                 html.escape(format_report(c)), build, html.escape(verdict),
                 html.escape(format_recorded(c, row.recorded))]
        out.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def provenance(profile: str | None = None, build_dir=None, recorded_dir=None) -> list[dict]:
    """Where every value of the table comes from: one dict per record found (or missing)."""
    profile = profiles.active_profile(profile)
    recorded_dir = results.RECORDED_DIR if recorded_dir is None else recorded_dir
    out = []
    for source, prof, directory in (("this build", profile, build_dir),
                                    ("recorded GPU run", "paper", recorded_dir)):
        for experiment in ALL_EXPERIMENTS:
            record = results.load(experiment, prof, directory)
            if record is None:
                out.append(dict(source=source, experiment=experiment, profile=prof, found=False))
                continue
            out.append(dict(
                source=source, experiment=experiment, profile=record.get("profile", prof),
                found=True, device=device_of(record), date=str(record.get("date", "")),
                commit=(record.get("commit") or "")[:10], runs=len(record.get("runs", [])),
                wall_time=record.get("wall_time"),
                torch=(record.get("versions") or {}).get("torch")))
    return out


def provenance_html(entries: list[dict]) -> str:
    head = ["Source", "Experiment", "Profile", "Runs", "Device", "Date (UTC)", "Commit",
            "Wall time", "torch"]
    out = ['<table class="table reproduction-provenance" style="font-size: 0.85em">',
           "<thead><tr>"]
    out += [f"<th>{h}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for e in entries:
        if e["found"]:
            minutes = e["wall_time"] / 60 if isinstance(e["wall_time"], (int, float)) else None
            wall = "" if minutes is None else f"{minutes:.1f} min"
            cells = [e["source"], e["experiment"], e["profile"], str(e["runs"]), e["device"],
                     e["date"], e["commit"], wall, e["torch"] or ""]
        else:
            cells = [e["source"], e["experiment"], e["profile"], "not run", "", "", "", "", ""]
        out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def scale_notes(rows: list[Row]) -> dict[str, str]:
    """``{experiment: what its profile scaled down}`` for the rows that ran scaled down."""
    return {r.claim.experiment: r.scale for r in rows if r.build.has_record and not r.full_scale}


def summary(rows: list[Row]) -> list[str]:
    """Sentences computed from the table: what agrees, what differs, what was not compared."""
    def names(rs):
        return "; ".join(r.claim.quantity for r in rs)
    agree = [r for r in rows if r.agrees is True]
    differ = [r for r in rows if r.agrees is False]
    scaled = [r for r in rows if r.build.found and r.verdict.startswith("not comparable")]
    missing = [r for r in rows if not r.build.has_record]
    absent = [r for r in rows if r.build.has_record and not r.build.found and not r.build.error]
    broken = [r for r in rows if r.build.error]
    no_gpu = sorted({r.claim.experiment for r in rows if not r.recorded.found})
    out = []
    judged = len(agree) + len(differ)
    if judged:
        out.append(f"Of the {judged} rows this build could judge at the report's scale, "
                   f"{len(agree)} agree with the report (numbers within {AGREE_STD:g} seed "
                   f"standard deviations, configurations identical)"
                   + (f": {names(agree)}." if agree else "."))
    if differ:
        out.append("These differ: " + "; ".join(
            f"{r.claim.quantity} ({r.verdict}"
            + (f", {d}" if (d := format_difference(r.claim, r.build.value)) else "") + ")"
            for r in differ) + ".")
    if scaled:
        out.append(f"{len(scaled)} rows ran scaled down under profile "
                   f"{scaled[0].build.profile} and are shown, not judged: {names(scaled)}.")
    if missing:
        out.append(f"Not run in this build: {names(missing)}.")
    if absent:
        out.append(f"Recorded, but without this quantity (for example no evaluation at that "
                   f"step): {names(absent)}.")
    if broken:
        out.append(f"Records this page could not read: {names(broken)}.")
    if no_gpu:
        out.append("No paper-profile GPU result is recorded in results/paper/ for: "
                   + ", ".join(no_gpu) + "; those cells of the last column are empty.")
    return out
