"""The course's statistics: its few rules, implemented and tested once for every chapter.

Compare over several seeds, never single runs: :func:`summarize` a quantity over seeds and
report its mean ± standard error (:func:`format_mean_se`), a t-based confidence interval of the
mean (:meth:`Summary.ci`), or where one new run may land (:meth:`Summary.prediction_interval`).
Count bounded or discrete quantities ("3 of 5 seeds peaked at the last step", :func:`count`).
Compare two variants with :func:`paired_test` when their runs share seeds or data, else with
:func:`welch_test`; a single number from elsewhere with :func:`compare_to_value`.
Spreads are sample standard deviations (``ddof=1``); t quantiles and p-values come from scipy.
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


@dataclass(frozen=True)
class Difference:
    """A t-test of a difference of means: the difference, its standard error, t, df, p."""

    diff: float
    se: float
    t: float
    df: float
    p: float  #: two-sided p-value: how often chance alone gives a |t| at least this large

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Confidence interval of the difference, diff ± t_df·se."""
        half = _t(level, self.df) * self.se
        return self.diff - half, self.diff + half


def _difference(diff: float, se: float, df: float) -> Difference:
    if se == 0:
        raise ValueError("the values have no spread, so a t-test is undefined; count instead")
    t = diff / se
    return Difference(diff, se, t, df, float(2 * _st.t.sf(abs(t), df)))


def welch_test(a: Iterable[float], b: Iterable[float]) -> Difference:
    """Compare the means of two independent sets of runs (different seeds), mean(a) - mean(b).

    Welch's test: se = sqrt(se_a² + se_b²) with Welch–Satterthwaite degrees of freedom.
    """
    sa, sb = summarize(a), summarize(b)
    for s in (sa, sb):
        s._need_spread("Welch's test")
    return welch_from_moments(sa.mean, sa.std, sa.n, sb.mean, sb.std, sb.n)


def welch_from_moments(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float,
                       n_b: int) -> Difference:
    """Welch's test from each side's mean, sample std and number of runs: for a mean that a
    paper states as "mean ± std over n seeds" without its values."""
    if min(n_a, n_b) < 2:
        raise ValueError(f"Welch's test needs at least 2 runs a side, got {n_a} and {n_b}")
    va, vb = std_a**2 / n_a, std_b**2 / n_b  # squared standard errors
    se = math.sqrt(va + vb)
    df = se**4 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1)) if se else math.nan
    return _difference(mean_a - mean_b, se, df)


def paired_test(a: Iterable[float], b: Iterable[float]) -> Difference:
    """Compare two variants run on the same seeds or data: a t-test of the differences a - b.

    Pairing removes the variation that the two runs of a seed share, so smaller effects show.
    """
    sa, sb = summarize(a), summarize(b)
    if sa.n != sb.n:
        raise ValueError(f"paired values need equal lengths, got {sa.n} and {sb.n}")
    d = summarize(np.subtract(sa.values, sb.values))
    d._need_spread("a paired test")
    return _difference(d.mean, d.se, d.n - 1)


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
