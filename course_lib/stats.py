"""The course's statistics: its few rules, implemented and tested once for every chapter.

Compare over several seeds, never single runs: :func:`summarize` a quantity over seeds and
report its mean ± standard error (:func:`format_mean_se`), a t-based confidence interval of the
mean (:meth:`Summary.ci`), or where one new run may land (:meth:`Summary.prediction_interval`).
Count bounded or discrete quantities ("3 of 5 seeds peaked at the last step", :func:`count`).
Compare two variants with :func:`paired_test` when their runs share seeds or data, else with
:func:`welch_test`; a single number from elsewhere with :func:`compare_to_value`. Every
:class:`Difference` states itself in one format (:meth:`Difference.describe`): a significant
difference with its interval, a non-significant one as *bounded by* its 95% confidence interval,
and equivalence only against a stated margin. Several tests of one question are corrected
together (:func:`holm`).

The course's words for what training does to held-out data are defined here, once:

- the **generalisation gap** at a step is training accuracy minus held-out accuracy; it
  **grows** between two steps when a paired test over seeds finds it larger at the later step
  (:func:`gap_growth`);
- **overfitting** is held-out performance getting *worse*: the held-out accuracy falls (or the
  held-out loss rises) between two steps, by a paired test over seeds, Holm-corrected when both
  are tested (:func:`overfitting`). A growing gap alone is not overfitting: the held-out
  accuracy may still be rising. :func:`generalisation` judges both from a list of runs.

Whether two configurations of a search differ is judged by :func:`compare_configurations`:
with one seed each it is not judged. The t-tests are scipy's (``ttest_rel``,
``ttest_ind(equal_var=False)``, ``ttest_ind_from_stats``); spreads are sample standard
deviations (``ddof=1``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st


def _t(level: float, df: float) -> float:
    """The t quantile such that ``± _t(level, df)`` standard errors hold ``level`` of the mass."""
    if not 0 < level < 1:
        raise ValueError(f"level must be strictly between 0 and 1, got {level}")
    return float(_st.t.ppf((1 + level) / 2, df))


@dataclass(frozen=True)
class Summary:
    """One quantity measured over seeds, e.g. the final test accuracy of 5 runs."""

    values: tuple[float, ...]

    def __post_init__(self):
        v = np.asarray(self.values, dtype=float)
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"need a non-empty 1-D sequence of numbers, got shape {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"values must be finite (no NaN or inf), got {v.tolist()}")
        object.__setattr__(self, "values", tuple(v.tolist()))

    n = property(lambda self: len(self.values), doc="Number of seeds.")
    mean = property(lambda self: float(np.mean(self.values)), doc="Mean over seeds.")

    @property
    def std(self) -> float | None:
        """Sample standard deviation (``ddof=1``), the spread of single runs; None for one run."""
        return float(np.std(self.values, ddof=1)) if self.n > 1 else None

    @property
    def se(self) -> float | None:
        """Standard error of the mean, std / sqrt(n): the uncertainty of the mean; None for n=1."""
        return self.std / math.sqrt(self.n) if self.n > 1 else None

    def _need_spread(self, what: str) -> None:
        if self.n < 2:
            raise ValueError(f"{what} needs at least 2 seeds to estimate a spread, got 1 value")

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Confidence interval of the mean, mean ± t_{n-1}·se: where the true mean likely is."""
        self._need_spread("a confidence interval")
        half = _t(level, self.n - 1) * self.se
        return self.mean - half, self.mean + half

    def prediction_interval(self, level: float = 0.95) -> tuple[float, float]:
        """Where one new run (one more seed) likely lands: mean ± t_{n-1}·std·sqrt(1 + 1/n)."""
        self._need_spread("a prediction interval")
        half = _t(level, self.n - 1) * self.std * math.sqrt(1 + 1 / self.n)
        return self.mean - half, self.mean + half


def summarize(values: Iterable[float]) -> Summary:
    """The :class:`Summary` of one quantity's values over seeds (empty or NaN input is refused)."""
    return values if isinstance(values, Summary) else Summary(tuple(values))


ALPHA = 0.05  #: the level of every test behind a course verdict (95% intervals)


@dataclass(frozen=True)
class Difference:
    """A t-test of a difference of means: the difference, its standard error, t, df, p; and
    how it was made (``kind``: "paired" or "Welch"; ``n``: runs per side)."""

    diff: float
    se: float
    t: float
    df: float
    p: float  #: two-sided p-value: how often chance alone gives a |t| at least this large
    kind: str = ""
    n: tuple[int, int] = (0, 0)

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Confidence interval of the difference, diff ± t_df·se."""
        half = _t(level, self.df) * self.se
        return self.diff - half, self.diff + half

    def significant(self, alpha: float = ALPHA) -> bool:
        """Whether the test rejects "no difference" at level ``alpha``."""
        return self.p < alpha

    def equivalent(self, margin: float, alpha: float = ALPHA) -> bool:
        """Equivalence within ±``margin`` (two one-sided tests at ``alpha``): the
        ``1 - 2·alpha`` confidence interval lies inside (-margin, margin)."""
        if margin <= 0:
            raise ValueError(f"an equivalence margin must be positive, got {margin}")
        lo, hi = self.ci(1 - 2 * alpha)
        return -margin < lo and hi < margin

    def describe(self, what: str = "difference", scale: float = 100, unit: str = " points",
                 digits: int = 1, margin: float | None = None, alpha: float = ALPHA,
                 verdict: bool = True) -> str:
        """The course's one sentence for a difference, e.g. "test accuracy, BN - no BN:
        +1.2 points [95% CI +0.5, +1.9], p = 0.005 (paired, 5 seeds): a difference"; a
        non-significant one is "bounded by" its interval, never "the same", and equivalence
        is claimed only within a stated ``margin`` (in the unscaled units of ``diff``).
        ``verdict=False`` leaves the conclusion out (where a corrected p decides)."""
        lo, hi = self.ci(1 - alpha)
        f = f"+.{digits}f"
        how = f"{self.kind}, " if self.kind else ""
        sides = (f"{self.n[0]} seeds" if self.n[0] == self.n[1] else
                 f"{self.n[0]} and {self.n[1]} runs") if self.n[0] else ""
        text = (f"{what}: {scale * self.diff:{f}}{unit} [{100 * (1 - alpha):.0f}% CI "
                f"{scale * lo:{f}}, {scale * hi:{f}}], p = {self.p:.2g} ({how}{sides})")
        if not verdict:
            return text
        if self.significant(alpha):
            text += ": a difference"
        else:
            text += (f": no difference shown; the data bound it to {scale * lo:{f}} .. "
                     f"{scale * hi:{f}}{unit}")
        if margin is not None:
            text += (f"; equivalent within ±{scale * margin:.{digits}f}{unit}"
                     if self.equivalent(margin, alpha) else
                     f"; not shown equivalent within ±{scale * margin:.{digits}f}{unit}")
        return text


def _checked(diff: float, se: float, t: float, df: float, p: float, kind: str,
             n: tuple[int, int]) -> Difference:
    if se == 0 or not math.isfinite(t):
        raise ValueError("the values have no spread, so a t-test is undefined; count instead")
    return Difference(float(diff), float(se), float(t), float(df), float(p), kind, n)


def welch_test(a: Iterable[float], b: Iterable[float]) -> Difference:
    """Compare the means of two independent sets of runs (different seeds), mean(a) - mean(b):
    Welch's test (``scipy.stats.ttest_ind(equal_var=False)``)."""
    sa, sb = summarize(a), summarize(b)
    for s in (sa, sb):
        s._need_spread("Welch's test")
    if sa.std == 0 and sb.std == 0:
        _checked(0, 0, math.nan, 0, math.nan, "", (0, 0))  # raises: no spread
    r = _st.ttest_ind(sa.values, sb.values, equal_var=False)
    diff = sa.mean - sb.mean
    return _checked(diff, math.hypot(sa.se, sb.se), r.statistic, r.df, r.pvalue, "Welch",
                    (sa.n, sb.n))


def welch_from_moments(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float,
                       n_b: int) -> Difference:
    """Welch's test from each side's mean, sample std and number of runs: for a mean that a
    paper states as "mean ± std over n seeds" without its values
    (``scipy.stats.ttest_ind_from_stats``; the Welch–Satterthwaite df for the interval)."""
    if min(n_a, n_b) < 2:
        raise ValueError(f"Welch's test needs at least 2 runs a side, got {n_a} and {n_b}")
    va, vb = std_a**2 / n_a, std_b**2 / n_b  # squared standard errors
    se = math.sqrt(va + vb)
    if se == 0:
        _checked(0, 0, math.nan, 0, math.nan, "", (0, 0))  # raises: no spread
    df = se**4 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    r = _st.ttest_ind_from_stats(mean_a, std_a, n_a, mean_b, std_b, n_b, equal_var=False)
    return _checked(mean_a - mean_b, se, r.statistic, df, r.pvalue, "Welch", (n_a, n_b))


def paired_test(a: Iterable[float], b: Iterable[float]) -> Difference:
    """Compare two variants run on the same seeds or data: a t-test of the differences a - b
    (``scipy.stats.ttest_rel``).

    Pairing removes the variation that the two runs of a seed share, so smaller effects show.
    """
    sa, sb = summarize(a), summarize(b)
    if sa.n != sb.n:
        raise ValueError(f"paired values need equal lengths, got {sa.n} and {sb.n}")
    d = summarize(np.subtract(sa.values, sb.values))
    d._need_spread("a paired test")
    if d.std == 0:
        _checked(0, 0, math.nan, 0, math.nan, "", (0, 0))  # raises: no spread
    r = _st.ttest_rel(sa.values, sb.values)
    return _checked(d.mean, d.se, r.statistic, r.df, r.pvalue, "paired", (d.n, d.n))


def holm(p_values: Iterable[float]) -> list[float]:
    """Holm's step-down adjustment of several p-values tested together: the k-th smallest is
    multiplied by (m - k + 1), and the adjusted values are made non-decreasing (capped at 1).
    Reject where the adjusted p < alpha; the chance of any false rejection stays <= alpha."""
    p = [float(v) for v in p_values]  # none tested: none adjusted
    if not all(0 <= v <= 1 for v in p):
        raise ValueError(f"need p-values between 0 and 1, got {p}")
    order, m, out, running = sorted(range(len(p)), key=p.__getitem__), len(p), [0.0] * len(p), 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return out


@dataclass(frozen=True)
class Comparison:
    """A reference value against our seeds: its distance in scale units and whether it is inside."""

    distance: float  #: (reference - mean) / scale: std·sqrt(1 + 1/n) for a run, se for a mean
    inside: bool
    interval: tuple[float, float]


def compare_to_value(values: Iterable[float], reference: float, level: float = 0.95,
                     single_run: bool = True) -> Comparison:
    """Is ``reference`` consistent with our seeds' values?

    ``single_run=True`` (the report ran once): is it inside the prediction interval of one run?
    ``single_run=False`` (a mean stated without spread): is it inside the CI of our mean?
    """
    s = summarize(values)
    lo, hi = s.prediction_interval(level) if single_run else s.ci(level)
    scale = s.std * math.sqrt(1 + 1 / s.n) if single_run else s.se
    gap = reference - s.mean
    distance = gap / scale if scale else (0.0 if gap == 0 else math.copysign(math.inf, gap))
    return Comparison(distance, bool(lo <= reference <= hi), (lo, hi))


@dataclass(frozen=True)
class Count:
    """k of n runs satisfy something, e.g. "3 of 5 seeds peaked at the last step"."""

    k: int
    n: int
    fraction = property(lambda self: self.k / self.n)

    def __str__(self) -> str:
        return f"{self.k} of {self.n}"


def count(values: Iterable, what: Callable[[object], bool] | object) -> Count:
    """How many values satisfy ``what`` (a predicate) or equal it (a target value)."""
    values = list(values)
    if not values:
        raise ValueError("cannot count over no values")
    hit = what if callable(what) else (lambda v: v == what)
    return Count(sum(bool(hit(v)) for v in values), len(values))


def format_mean_se(summary: Summary | Iterable[float], scale: float = 100, digits: int = 1,
                   unit: str = "%") -> str:
    """The mean with its standard error for a table or text, e.g. "47.1% ± 0.2 (s.e., 5 seeds)"."""
    s = summarize(summary)
    mean = f"{s.mean * scale:.{digits}f}{unit}"
    if s.n == 1:
        return f"{mean} (1 seed, no s.e.)"
    return f"{mean} ± {s.se * scale:.{digits}f} (s.e., {s.n} seeds)"


def binomial_se(accuracy: float, n_images: int) -> float:
    """The standard error of one accuracy measured on ``n_images`` images, sqrt(p(1-p)/n):
    about 0.7 points for p ≈ 0.5 on 5,000 images."""
    if not 0 <= accuracy <= 1 or n_images < 1:
        raise ValueError(f"need an accuracy in [0, 1] and n_images >= 1, got {accuracy}, "
                         f"{n_images}")
    return math.sqrt(accuracy * (1 - accuracy) / n_images)


# --------------------------------------------------------------------------- the course's words
@dataclass(frozen=True)
class GapGrowth:
    """The generalisation gap (training minus held-out accuracy) at two steps, per seed, and
    its change, paired over seeds (``change`` is None with one seed)."""

    steps: tuple[int, int]
    early: Summary
    late: Summary
    change: Difference | None

    @property
    def grows(self) -> bool | None:
        """True when the gap is significantly larger at the later step; None with one seed."""
        if self.change is None:
            return None
        return self.change.diff > 0 and self.change.significant()

    def describe(self) -> str:
        a, b = self.steps
        early, late = (format_mean_se(g, unit=" points") for g in (self.early, self.late))
        head = (f"generalisation gap (train - held-out accuracy) {early} at step {a:,}, "
                f"{late} at step {b:,}")
        if self.change is None:
            return head + "; its growth is not judged: one seed"
        verdict = "it grows" if self.grows else "it does not grow significantly"
        return f"{head}; {verdict} ({self.change.describe('change')})"


def gap_growth(train_early, held_early, train_late, held_late,
               steps: tuple[int, int]) -> GapGrowth:
    """The course's rule for the generalisation gap: training minus held-out accuracy, each
    seed at ``steps[0]`` and ``steps[1]``; it grows when a paired test over seeds finds the
    later gap larger (at :data:`ALPHA`)."""
    early = np.subtract(train_early, held_early)
    late = np.subtract(train_late, held_late)
    change = paired_test(late, early) if len(early) > 1 and np.ptp(late - early) > 0 else None
    return GapGrowth(tuple(steps), summarize(early), summarize(late), change)


@dataclass(frozen=True)
class Overfitting:
    """Held-out performance between two steps, paired over seeds: the accuracy's change and,
    if given, the loss's, with Holm-adjusted p-values when both are tested."""

    steps: tuple[int, int]
    accuracy: Difference | None  #: late minus early held-out accuracy
    loss: Difference | None = None  #: late minus early held-out loss
    adjusted: tuple[float, ...] = ()  #: Holm-adjusted p of (accuracy, loss), as tested

    @property
    def overfits(self) -> bool | None:
        """True when held-out performance got significantly worse (accuracy fell or loss rose,
        after Holm); False when it did not; None when not judged (one seed)."""
        if self.accuracy is None:
            return None
        worse = [self.accuracy.diff < 0] + ([self.loss.diff > 0] if self.loss else [])
        return any(w and p < ALPHA for w, p in zip(worse, self.adjusted))

    def describe(self) -> str:
        a, b = self.steps
        if self.accuracy is None:
            return f"overfitting from step {a:,} to {b:,}: not judged: one seed"
        parts = [self.accuracy.describe("held-out accuracy, change", verdict=False)]
        if self.loss is not None:
            parts.append(self.loss.describe("held-out loss, change", scale=1, unit="",
                                            digits=3, verdict=False))
        holm_note = (f" (Holm-adjusted p: accuracy {self.adjusted[0]:.2g}, loss "
                     f"{self.adjusted[1]:.2g})" if len(self.adjusted) == 2 else "")
        verdict = ("held-out performance got worse: overfitting" if self.overfits else
                   "held-out performance did not get worse: no overfitting shown")
        return f"from step {a:,} to {b:,}, {verdict}{holm_note}; " + "; ".join(parts)


def overfitting(acc_early, acc_late, steps: tuple[int, int], loss_early=None,
                loss_late=None) -> Overfitting:
    """The course's rule for overfitting: held-out performance getting worse between
    ``steps[0]`` and ``steps[1]``, judged paired over seeds: the held-out accuracy falls, or
    (if given) the held-out loss rises, significantly after Holm's correction for the two
    tests. With one seed it is not judged."""
    if len(list(acc_early)) < 2:
        return Overfitting(tuple(steps), None)
    acc = paired_test(acc_late, acc_early)
    loss = None if loss_early is None else paired_test(loss_late, loss_early)
    ps = [acc.p] + ([loss.p] if loss else [])
    return Overfitting(tuple(steps), acc, loss, tuple(holm(ps)))


@dataclass(frozen=True)
class Generalisation:
    """Both words for a list of runs between two steps: :class:`GapGrowth` and
    :class:`Overfitting`."""

    gap: GapGrowth
    overfitting: Overfitting

    def describe(self) -> str:
        return f"{self.gap.describe()}.\n{self.overfitting.describe()}."


def generalisation(runs, early: int, late: int, held_out: str = "test",
                   train_window: int | None = None) -> Generalisation:
    """:func:`gap_growth` and :func:`overfitting` for ``runs`` (each with
    ``at(step, metric, curve=..., window=...)``, like :class:`course_lib.results.Run`) between
    steps ``early`` and ``late``. The training accuracy at a step is the mean of the training
    curve over the ``train_window`` steps up to it (default: the steps since the previous
    evaluation, so that it covers the same stretch of training as the evaluation spacing)."""
    runs = sorted(runs, key=lambda r: r.seed)

    def column(step, metric, curve="eval", window=None):
        values = [r.at(step, metric, curve=curve, window=window) for r in runs]
        if None in values:
            raise ValueError(f"not every run has {curve} {metric!r} at step {step}")
        return values

    def window(step):
        if train_window is not None:
            return train_window
        evals = runs[0].curves["eval"]["step"]
        if step not in evals:
            raise ValueError(f"the runs were not evaluated at step {step}")
        i = evals.index(step)
        return step - (evals[i - 1] if i else 0)

    acc, loss = f"{held_out}_accuracy", f"{held_out}_loss"
    train = [column(s, "accuracy", "train", window(s)) for s in (early, late)]
    held = [column(s, acc) for s in (early, late)]
    has_loss = all(loss in r.curves["eval"] for r in runs)
    losses = [column(s, loss) for s in (early, late)] if has_loss else [None, None]
    return Generalisation(gap_growth(train[0], held[0], train[1], held[1], (early, late)),
                          overfitting(held[0], held[1], (early, late), *losses))


@dataclass(frozen=True)
class ConfigVerdict:
    """Whether two configurations of a search are distinguishable given its noise:
    ``distinguishable`` True/False, or None (not judged); ``reason`` with the numbers."""

    distinguishable: bool | None
    reason: str
    difference: Difference | None = None

    def describe(self) -> str:
        return self.reason


def compare_configurations(a, b, n_images: int | None = None, paired: bool = True,
                           names: tuple[str, str] = ("a", "b")) -> ConfigVerdict:
    """Are configurations ``a`` and ``b`` (their accuracies over seeds) distinguishable?

    With one seed each the grid's own noise is unmeasured, so the verdict is "not judged: one
    seed"; the reason gives the difference beside the binomial standard error of one accuracy
    on ``n_images`` images (the floor of that noise: seeds add their own spread). With seeds,
    a paired test (the configurations share seeds) or Welch's test decides."""
    sa, sb = summarize(a), summarize(b)
    gap = 100 * (sa.mean - sb.mean)
    if min(sa.n, sb.n) < 2:
        floor = (f"; one accuracy on {n_images:,} images alone has a standard error of about "
                 f"{100 * binomial_se(sa.mean, n_images):.1f} points, and seeds add their own "
                 "spread" if n_images else "")
        return ConfigVerdict(None, f"not judged: one seed ({names[0]} - {names[1]} = "
                                   f"{gap:+.2f} points{floor})")
    d = paired_test(sa.values, sb.values) if paired else welch_test(sa.values, sb.values)
    verdict = "distinguishable" if d.significant() else "not distinguishable"
    return ConfigVerdict(d.significant(), f"{verdict}: "
                         + d.describe(f"{names[0]} - {names[1]}"), d)
