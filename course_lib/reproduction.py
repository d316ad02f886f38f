"""The report's numbers beside this build's and the recorded full-scale run's (the
reproduction page).

Each result the report states is a :class:`Claim` read from a typed record; :func:`compare`
gives one :class:`Row` per claim with a :class:`Verdict` (:func:`judge`) for *each* column:
this build's records and the recorded ``paper`` run committed in ``results/paper/``, so that
a CPU build judges the full-scale evidence it already has. A record that cannot be read is
reported with its path in its rows; the other rows still render."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from . import profiles, report, results, stats
from .data import OFFICIAL
from .results import Record, RecordError

LEVEL = 0.95  #: the level of every interval and test behind a verdict
REPORT_DATA = OFFICIAL  #: the data the report trained on (a kind of data.fingerprint)


@dataclass(frozen=True)
class Claim:
    """A number (or configuration) the report states: ``read(record)`` gives its values over
    seeds (or a configuration); the report's value is their ``reduce`` (mean or max)."""

    key: str
    quantity: str
    stated: report.Stated | dict
    experiment: str
    kind: str  # "accuracy", "step" or "config"
    read: Callable[[Record], list | dict | None]
    reduce: str = "mean"

    where = property(lambda self: getattr(self.stated, "where", "report Table 1"))


def _main(record: Record):
    """The NumPy MLP's runs at the report's learning rate (not the comparison's)."""
    return record.select(learning_rate=record.settings.learning_rate)


def _selection(by: str, what: str):
    return lambda rec: (lambda s: s["config"] if what == "config" else [s["test_accuracy"]])(
        rec.info[f"selected_by_{by}"])


CLAIMS = (
    Claim("numpy_final", "NumPy MLP, test accuracy after 1,500 steps", report.NUMPY_FINAL,
          "numpy_mlp", "accuracy", lambda r: [x.final["test_accuracy"] for x in _main(r)]),
    Claim("numpy_step1000", "NumPy MLP, test accuracy at step 1,000", report.NUMPY_AT_1000,
          "numpy_mlp", "accuracy", lambda r: [x.at(1000) for x in _main(r)]),
    Claim("numpy_peak_step", "NumPy MLP, step of the best test accuracy",
          report.NUMPY_PEAK_STEP, "numpy_mlp", "step",
          lambda r: [x.best["step"] for x in _main(r)]),
    Claim("torch_final", "PyTorch MLP (default init), test accuracy after 1,500 steps",
          report.TORCH_FINAL, "torch_mlp", "accuracy",
          lambda r: list(r.finals(variant="pytorch/pytorch"))),
    Claim("grid_config_test", "Grid: best configuration selected on the test set (as Table 1)",
          report.GRID_BEST, "mlp_grid", "config", _selection("test", "config")),
    Claim("grid_acc_test", "Grid: test accuracy of the configuration selected on test",
          report.GRID_BEST_ACCURACY, "mlp_grid", "accuracy", _selection("test", "accuracy")),
    Claim("grid_config_val", "Grid: best configuration selected on validation (the course)",
          report.GRID_BEST, "mlp_grid", "config", _selection("validation", "config")),
    Claim("tuned_final", "Tuned MLP: selected configuration retrained, test accuracy",
          report.GRID_BEST_ACCURACY, "mlp_best", "accuracy", lambda r: list(r.finals())),
    Claim("cnn_mean", "CNN with BatchNorm, mean test accuracy over seeds",
          report.CNN_MEAN, "cnn", "accuracy", lambda r: list(r.finals(variant="batch_norm"))),
    Claim("cnn_best", "CNN with BatchNorm, best seed's test accuracy", report.CNN_BEST, "cnn",
          "accuracy", lambda r: list(r.finals(variant="batch_norm")), reduce="max"),
    Claim("cnn_no_bn", "CNN without BatchNorm, test accuracy", report.CNN_NO_BATCH_NORM, "cnn",
          "accuracy", lambda r: list(r.finals(variant="no_batch_norm"))),
)


# --- measuring a claim on a record
@dataclass(frozen=True)
class Measured:
    """A claim read from one record: the values (or config), or why there are none."""

    value: list | dict | None = None
    record: Record | None = None
    error: str | None = None  # the record's path and what is wrong with it

    found = property(lambda self: self.value is not None)
    missing = property(lambda self: "unreadable" if self.error else
                       "not in the record" if self.record else "not run")


@dataclass(frozen=True)
class Verdict:
    """``agrees``: True, False or None (not judged); ``reason``: why, with the numbers behind it;
    ``distance``: the gap in units of its yardstick (|t| of a test, or of a run's spread);
    ``interval``: the 95% interval the report's value must lie in for ``agrees`` (the
    prediction interval of one run, or, for a mean, our mean minus the CI of the difference
    of means), which the reproduction page draws."""

    agrees: bool | None
    reason: str
    distance: float | None = None
    interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class Row:
    claim: Claim
    build: Measured
    recorded: Measured
    verdict: Verdict  #: this build's
    recorded_verdict: Verdict = Verdict(None, "not run")  #: the recorded full-scale run's

    full_scale = property(lambda self: self.build.record is None or self.build.record.full_scale)


def point(claim: Claim, values: list) -> float:
    """The number of ``values`` that corresponds to the report's: their mean or their max."""
    return float(np.max(values) if claim.reduce == "max" else np.mean(values))


def difference(claim: Claim, m: Measured) -> float | None:
    """Measured minus reported accuracy (steps are counted, configurations compared)."""
    return point(claim, m.value) - claim.stated.value if m.found and claim.kind == "accuracy" \
        else None


def judge(claim: Claim, m: Measured, full_scale: bool) -> Verdict:
    """The course's statistical rules (:mod:`course_lib.stats`), at :data:`LEVEL`:

    - the report's *single run* agrees when it lies inside the prediction interval of one new
      run from the course's seeds (mean ± t·s·sqrt(1 + 1/n));
    - the report's *mean over seeds* (with its std) agrees when Welch's test of the two means
      does not reject equality: the yardstick is the standard error of their difference;
    - a *step* is discrete and capped at the last step: the seeds are counted, not judged;
    - a configuration agrees when every hyperparameter is the same; a different one differs
      only when the two configurations are distinguishable given the search's noise
      (:func:`judge_config`): with one seed per configuration it is not judged.
    Scaled-down runs, a best-of-seeds value and a value without a spread are not judged."""
    if not m.found:
        return Verdict(None, m.missing)
    if claim.kind == "config":
        return judge_config(claim, m, full_scale)
    if not full_scale:
        return Verdict(None, "scaled down")
    if claim.reduce == "max":
        return Verdict(None, f"best of {len(m.value)} seeds")
    if claim.kind == "step":
        last = m.record.settings.steps
        return Verdict(None, f"{stats.count(m.value, claim.stated.value)} seeds at "
                       f"{claim.stated.value:,.0f}, {stats.count(m.value, last)} at the last "
                       f"step ({last:,})")
    if len(m.value) < 2:
        return Verdict(None, "one run, no spread")
    s, ref, pct = stats.summarize(m.value), claim.stated, f"{100 * LEVEL:.0f}%"
    if ref.seeds > 1 and ref.std is not None:  # a mean against a mean
        t = stats.welch_from_moments(s.mean, s.std, s.n, ref.value, ref.std, ref.seeds)
        ok = t.p >= 1 - LEVEL
        d_lo, d_hi = t.ci(LEVEL)
        return Verdict(ok, f"means {'agree' if ok else 'differ'}: {100 * t.diff:+.1f} ± "
                       f"{100 * t.se:.1f} pp (s.e.), p = {t.p:.2g}", float(abs(t.t)),
                       (s.mean - d_hi, s.mean - d_lo))
    c = stats.compare_to_value(s, ref.value, LEVEL)
    lo, hi = (100 * v for v in c.interval)
    return Verdict(c.inside, f"{'inside' if c.inside else 'outside'} the {pct} prediction "
                   f"interval of one run, {lo:.1f}–{hi:.1f}%", float(abs(c.distance)),
                   c.interval)


def judge_config(claim: Claim, m: Measured, full_scale: bool) -> Verdict:
    """The configuration verdict: the same configuration agrees; a different one is compared
    with the report's configuration *in the same search* (:func:`stats.compare_configurations`
    on the accuracy the selection used), and differs only when the two are distinguishable
    given the search's noise. The grid trains one seed per configuration, so a different
    configuration is "not judged: one seed"."""
    same = m.value == claim.stated
    if not full_scale:
        return Verdict(None, f"{'same' if same else 'different'} configuration, scaled-down "
                       "search")
    if same:
        return Verdict(True, "same configuration")
    by = "validation" if claim.key.endswith("_val") else "test"
    metric = f"{by}_accuracy"
    record = m.record
    pick = record.select(config=m.value)
    theirs = record.select(config=dict(claim.stated))
    note = ("; the course selects on validation, the report on test" if by == "validation"
            else "")
    if not pick or not theirs:
        return Verdict(None, "different configuration; the report's was not trained to the "
                       f"end of this search{note}")
    n_images = (record.settings.validation_size if by == "validation"
                else record.settings.test_size or 10_000)
    v = stats.compare_configurations([r.final[metric] for r in pick],
                                     [r.final[metric] for r in theirs], n_images,
                                     names=(f"selected on {by}", "report's"))
    rank = 1 + sum(r.final[metric] > theirs[0].final[metric] for r in record.runs
                   if r.info.get("steps_trained", 0) >= theirs[0].info.get("steps_trained", 0))
    # Distinguishable: the configurations differ. Not (or not judged): no verdict either way.
    return Verdict(False if v.distinguishable else None, f"different configuration, {v.reason}; "
                   f"the report's ranks {rank} on {by} accuracy{note}")


def load_all(profile: str, build_dir=None, recorded_dir=None) -> dict:
    """``{(source, experiment): Record | RecordError | None}`` for this build and the recorded
    full-scale run."""
    def load(name, prof, folder):
        try:
            return results.load(name, prof, folder)
        except RecordError as err:
            return err
    recorded = results.RECORDED_DIR if recorded_dir is None else recorded_dir
    return {(source, name): load(name, prof, folder) for source, prof, folder in
            (("build", profile, build_dir), ("recorded", "paper", recorded))
            for name in profiles.EXPERIMENTS}


def measure(claim: Claim, record: Record | RecordError | None) -> Measured:
    if not isinstance(record, Record):  # a RecordError, or None: no record
        return Measured(error=str(record)) if record else Measured()
    try:
        value = claim.read(record)  # a step that was not evaluated reads as None
        return Measured(None if isinstance(value, list) and None in value else value, record)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        return Measured(record=record, error=f"{record.experiment}: {type(err).__name__}: {err}")


def compare(profile: str | None = None, build_dir=None, recorded_dir=None) -> list[Row]:
    """One :class:`Row` per claim, for this build's ``profile`` and the recorded paper run."""
    records = load_all(profiles.active_profile(profile), build_dir, recorded_dir)
    def verdict(c, m):
        v = judge(c, m, m.record is None or m.record.full_scale)
        if m.found and (kind := m.record.data.get("kind", "unknown")) != REPORT_DATA:
            v = replace(v, reason=f"{v.reason}, on {kind} data")
        return v

    rows = []
    for c in CLAIMS:
        build = measure(c, records["build", c.experiment])
        recorded = measure(c, records["recorded", c.experiment])
        rows.append(Row(c, build, recorded, verdict(c, build), verdict(c, recorded)))
    return rows


def show(claim: Claim, value) -> str:
    """A stated or measured value as text: ``47.1% ± 0.2 (s.e., 5 seeds)``, steps, a config."""
    if isinstance(value, dict):
        return (f"{value['first_hidden']} units, wd {value['weight_decay']:g}, dropout "
                f"{value['dropout']:g}, lr {value['learning_rate']:.0e}")
    if isinstance(value, report.Stated):
        std = "" if value.std is None else f" ± {100 * value.std:.1f} (std, {value.seeds} seeds)"
        return f"{100 * value.value:.1f}%{std}" if claim.kind == "accuracy" \
            else f"{value.value:,.0f}"
    if claim.kind == "step":  # discrete: every seed's value
        return ", ".join(f"{v:,.0f}" for v in value)
    if claim.reduce == "max":
        return f"{100 * max(value):.1f}% (best of {len(value)})"
    return stats.format_mean_se(value)


def _cell(claim: Claim, m: Measured) -> str:  # a table cell
    return show(claim, m.value) if m.found else m.missing


def _diff(claim: Claim, m: Measured) -> str:
    return "" if (d := difference(claim, m)) is None else f"{100 * d:+.1f} pp"


def data_of(rows: list[Row], source: str) -> str:
    """The data behind one column: ``offline JPEG rebuild (c67ad0c5efe6)``, or what mixes."""
    kinds = sorted({m.record.data_label for m in (getattr(r, source) for r in rows)
                    if m.record is not None})
    return " and ".join(kinds) or "no records"


def data_note(rows: list[Row]) -> str:
    """What data each column saw, and a warning where they differ (shown above the table)."""
    build, recorded = data_of(rows, "build"), data_of(rows, "recorded")
    return (f"Data: this build trained on {build}; the recorded full-scale run on {recorded}; the "
            f"report on the {REPORT_DATA} CIFAR-10 files."
            + (" The two columns come from different data, so a difference between them is "
               "not only a difference of runs."
               if build != recorded and "no records" not in (build, recorded) else "")
            + (f" This build's data is not the {REPORT_DATA} one, so its verdicts compare "
               "numbers from different data (each says so)." if REPORT_DATA not in build else ""))


def table(rows: list[Row]) -> pd.DataFrame:
    """The comparison, one row per claim (chapter 09 shows it)."""
    return pd.DataFrame([{
        "Quantity": f"{r.claim.quantity} ({r.claim.where})",
        "Report": show(r.claim, r.claim.stated),
        f"This build: {data_of(rows, 'build')}": _cell(r.claim, r.build)
        + (f" [{r.build.record.profile}{'' if r.full_scale else ', scaled down'}]"
           if r.build.record else ""),
        "Difference": _diff(r.claim, r.build),
        "Verdict": r.verdict.reason,
        f"Recorded full-scale run: {data_of(rows, 'recorded')}": _cell(r.claim, r.recorded),
        "Recorded difference": _diff(r.claim, r.recorded),
        "Recorded verdict": r.recorded_verdict.reason,
    } for r in rows])


def provenance(profile: str | None = None, build_dir=None, recorded_dir=None) -> pd.DataFrame:
    """Where every record comes from, one row per experiment and source (errors included)."""
    out = []
    for (source, name), rec in load_all(profiles.active_profile(profile), build_dir,
                                        recorded_dir).items():
        row = {"source": "this build" if source == "build" else "recorded full-scale run",
               "experiment": name}
        if isinstance(rec, Record):
            gpu = f" ({g})" if (g := rec.versions.get("gpu")) else ""
            row.update(profile=rec.profile, full_scale=rec.full_scale, runs=len(rec.runs),
                       data=rec.data_label, device=rec.device + gpu, date=rec.date[:10],
                       commit=(rec.commit or "")[:10],
                       minutes=round(rec.wall_time / 60, 1), torch=rec.versions.get("torch"))
        else:
            row["profile"] = str(rec) if rec else "not run"
        out.append(row)
    return pd.DataFrame(out)


def unreadable(rows: list[Row]) -> list[str]:
    """Every record error met by the table, once each (each names its file)."""
    return sorted({m.error for r in rows for m in (r.build, r.recorded) if m.error})


def summary(rows: list[Row]) -> list[str]:
    """Sentences computed from the table: what agrees, what differs, what was not judged, for
    this build and for the recorded full-scale run."""
    def names(rs):
        return "; ".join(r.claim.quantity for r in rs)
    out = []
    for column, who, get in (("build", "this build", lambda r: r.verdict),
                             ("recorded", "the recorded full-scale run",
                              lambda r: r.recorded_verdict)):
        agree = [r for r in rows if get(r).agrees is True]
        differ = [r for r in rows if get(r).agrees is False]
        if agree or differ:
            out.append(f"Of the {len(agree) + len(differ)} rows {who} could judge at the "
                       f"report's scale, {len(agree)} agree with the report (by the rules "
                       f"above, at the {100 * LEVEL:.0f}% level)"
                       + (f": {names(agree)}." if agree else "."))
        if differ:
            out.append(f"These differ in {who}: " + "; ".join(
                f"{r.claim.quantity} ({_diff(r.claim, getattr(r, column)) or get(r).reason})"
                for r in differ) + ".")
    for rs, text in (([r for r in rows if r.build.found and not r.full_scale],
                      "Ran scaled down, so shown but not judged"),
                     ([r for r in rows if not r.build.found], "No value in this build"),
                     ([r for r in rows if not r.recorded.found],
                      "No recorded full-scale value")):
        if rs:
            out.append(f"{text}: {names(rs)}.")
    return out
