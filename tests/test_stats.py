import math

import numpy as np
import pytest
from scipy import stats as st

from course_lib.stats import (
    Count,
    Summary,
    binomial_se,
    compare_configurations,
    compare_to_value,
    count,
    format_mean_se,
    gap_growth,
    generalisation,
    holm,
    overfitting,
    paired_test,
    summarize,
    welch_from_moments,
    welch_test,
)

approx = pytest.approx
RNG = np.random.default_rng(0)
SAMPLES = [RNG.normal(0.47, 0.01, size=n) for n in (2, 3, 5, 10)]


# --------------------------------------------------------------------------- by hand
def test_summary_by_hand():
    # 2, 4, 6: mean 4, squared deviations 4 + 0 + 4 over n - 1 = 2 -> variance 4, std 2.
    s = summarize([2, 4, 6])
    assert (s.n, s.mean, s.std, s.se) == (3, 4.0, 2.0, approx(2 / math.sqrt(3)))
    assert s.values == (2.0, 4.0, 6.0)


def test_intervals_by_hand():
    # With n = 2 the t distribution has 1 degree of freedom (Cauchy): its 75% quantile is
    # tan(pi/4) = 1, so the 50% intervals are mean ± 1·se and mean ± 1·std·sqrt(1 + 1/2).
    s = summarize([1, 3])  # mean 2, std sqrt(2), se 1
    assert s.ci(0.5) == approx((1.0, 3.0))
    assert s.prediction_interval(0.5) == approx((2 - math.sqrt(3), 2 + math.sqrt(3)))


def test_paired_test_by_hand():
    # Differences 2, 3, 4: mean 3, std 1, se 1/sqrt(3), t = 3·sqrt(3) with 2 df. For 2 df the
    # two-sided p-value is 1 - |t| / sqrt(2 + t²) = 1 - sqrt(27/29).
    r = paired_test([3, 5, 7], [1, 2, 3])
    assert (r.diff, r.se, r.t, r.df) == (3.0, approx(1 / math.sqrt(3)), approx(3 * math.sqrt(3)), 2)
    assert r.p == approx(1 - math.sqrt(27 / 29))


def test_welch_test_by_hand():
    # Variances 2 and 2, n = 2 each: se = sqrt(2/2 + 2/2) = sqrt(2), t = -4/sqrt(2) = -2·sqrt(2),
    # df = (1 + 1)² / (1²/1 + 1²/1) = 2, so p = 1 - |t| / sqrt(2 + t²) = 1 - sqrt(0.8).
    r = welch_test([1, 3], [5, 7])
    assert (r.diff, r.se, r.t, r.df) == (-4.0, approx(math.sqrt(2)), approx(-2 * math.sqrt(2)),
                                         approx(2))
    assert r.p == approx(1 - math.sqrt(0.8))


def test_count_and_format_by_hand():
    best_steps = [1000, 1000, 700, 1000, 300]
    c = count(best_steps, 1000)
    assert c == Count(3, 5) and str(c) == "3 of 5" and c.fraction == 0.6
    assert str(count(best_steps, lambda step: step >= 700)) == "4 of 5"
    assert format_mean_se([0.470, 0.471, 0.472]) == "47.1% ± 0.1 (s.e., 3 seeds)"
    assert format_mean_se(summarize([0.470, 0.471, 0.472]), digits=2) == \
        "47.10% ± 0.06 (s.e., 3 seeds)"
    assert format_mean_se([1.5, 2.5], scale=1, unit=" s") == "2.0 s ± 0.5 (s.e., 2 seeds)"
    assert format_mean_se([0.5]) == "50.0% (1 seed, no s.e.)"


def test_compare_to_value_by_hand():
    s = summarize([1, 3])  # the 50% prediction interval is 2 ± sqrt(3), the CI 2 ± 1
    inside = compare_to_value([1, 3], 3.5, level=0.5)
    assert inside.inside and inside.distance == approx(1.5 / math.sqrt(3))
    assert inside.interval == approx(s.prediction_interval(0.5))
    outside = compare_to_value([1, 3], 3.5, level=0.5, single_run=False)
    assert not outside.inside and outside.distance == approx(1.5)
    assert outside.interval == approx((1.0, 3.0))


# --------------------------------------------------------------------------- against scipy
@pytest.mark.parametrize("x", SAMPLES)
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_summary_matches_scipy(x, level):
    s = summarize(x)
    n = len(x)
    assert s.mean == approx(np.mean(x)) and s.std == approx(np.std(x, ddof=1))
    assert s.se == approx(st.sem(x))
    assert s.ci(level) == approx(st.t.interval(level, n - 1, loc=np.mean(x), scale=st.sem(x)))
    pred_scale = np.std(x, ddof=1) * math.sqrt(1 + 1 / n)
    assert s.prediction_interval(level) == approx(
        st.t.interval(level, n - 1, loc=np.mean(x), scale=pred_scale))


@pytest.mark.parametrize("a", SAMPLES)
@pytest.mark.parametrize("b", SAMPLES[1:])
def test_welch_test_matches_scipy(a, b):
    b = b + 0.005  # a real difference
    r, ref = welch_test(a, b), st.ttest_ind(a, b, equal_var=False)
    assert (r.t, r.p, r.df) == (approx(ref.statistic), approx(ref.pvalue), approx(ref.df))
    assert r.diff == approx(np.mean(a) - np.mean(b))
    assert r.ci(0.9) == approx(tuple(ref.confidence_interval(0.9)))


@pytest.mark.parametrize("n_b", [2, 10])
def test_welch_from_moments_matches_scipy(n_b):
    """A stated "mean ± std over n seeds" against our seeds, as scipy computes it from stats."""
    a = SAMPLES[2]
    r = welch_from_moments(np.mean(a), np.std(a, ddof=1), len(a), 0.48, 0.006, n_b)
    ref = st.ttest_ind_from_stats(np.mean(a), np.std(a, ddof=1), len(a), 0.48, 0.006, n_b,
                                  equal_var=False)
    assert (r.t, r.p) == (approx(ref.statistic), approx(ref.pvalue))
    assert r.se == approx(math.sqrt(np.var(a, ddof=1) / len(a) + 0.006**2 / n_b))
    with pytest.raises(ValueError, match="at least 2 runs"):
        welch_from_moments(0.5, 0.01, 5, 0.48, 0.006, 1)


@pytest.mark.parametrize("a", SAMPLES)
def test_paired_test_matches_scipy(a):
    b = a + RNG.normal(0.002, 0.003, size=len(a))
    r, ref = paired_test(a, b), st.ttest_rel(a, b)
    assert (r.t, r.p, r.df) == (approx(ref.statistic), approx(ref.pvalue), ref.df)
    assert r.ci() == approx(tuple(ref.confidence_interval(0.95)))


@pytest.mark.parametrize("x", SAMPLES)
def test_compare_to_value_matches_scipy(x):
    n, mean, std = len(x), np.mean(x), np.std(x, ddof=1)
    lo, hi = st.t.interval(0.95, n - 1, loc=mean, scale=std * math.sqrt(1 + 1 / n))
    for ref in (lo - 1e-6, lo + 1e-6, mean, hi - 1e-6, hi + 1e-6):
        c = compare_to_value(x, ref)
        assert c.inside == (lo <= ref <= hi)
        assert c.distance == approx((ref - mean) / (std * math.sqrt(1 + 1 / n)))
        # A reported mean: the one-sample t-test against our mean.
        one = st.ttest_1samp(x, ref)
        m = compare_to_value(x, ref, single_run=False)
        assert m.distance == approx(-one.statistic)
        assert m.inside == (one.pvalue >= 0.05)


# --------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("bad, match", [
    ([], "non-empty"), ([[1.0, 2.0]], "1-D"), ([0.5, float("nan")], "finite"),
    ([0.5, float("inf")], "finite"),
])
def test_summarize_refuses_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        summarize(bad)
    with pytest.raises(ValueError, match=match):
        Summary(bad)  # the dataclass itself checks, not only summarize


def test_one_value_has_no_spread():
    s = summarize([0.5])
    assert (s.n, s.mean, s.std, s.se) == (1, 0.5, None, None)
    for needs_spread in (s.ci, s.prediction_interval, lambda: compare_to_value([0.5], 0.5),
                         lambda: welch_test([0.5], [0.4, 0.6]),
                         lambda: paired_test([0.5], [0.4])):
        with pytest.raises(ValueError, match="at least 2 seeds"):
            needs_spread()


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="equal lengths"):
        paired_test([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        paired_test([1, 2], [1, float("nan")])
    with pytest.raises(ValueError, match="non-empty"):
        welch_test([], [1, 2])
    with pytest.raises(ValueError, match="no spread"):
        paired_test([1, 2, 3], [0, 1, 2])  # every difference is 1
    with pytest.raises(ValueError, match="no spread"):
        welch_test([1, 1], [2, 2])
    with pytest.raises(ValueError, match="level"):
        summarize([1, 2]).ci(95)
    with pytest.raises(ValueError, match="no values"):
        count([], 1)


def test_compare_to_value_without_spread():
    # Identical seeds: the interval is one point, so only that value is inside.
    assert compare_to_value([1, 1, 1], 1.0) == compare_to_value([1, 1, 1], 1.0)
    same, above = compare_to_value([1, 1, 1], 1.0), compare_to_value([1, 1, 1], 2.0)
    assert same.inside and same.distance == 0.0
    assert not above.inside and above.distance == math.inf


# --------------------------------------------------------------------------- the course's words
def test_difference_describe_and_equivalence():
    sig = paired_test([3, 5, 7], [1, 2, 3])
    text = sig.describe("a - b", scale=1, unit=" pts")
    assert text.startswith("a - b: +3.0 pts [95% CI ") and "paired, 3 seeds" in text
    assert text.endswith(": a difference") and sig.significant()
    bare = sig.describe("a - b", scale=1, unit=" pts", verdict=False)
    assert bare == text[:-len(": a difference")]
    null = paired_test([0.1, -0.2, 0.15, 0.0], [0, 0, 0, 0])
    lo, hi = null.ci()
    text = null.describe("d", scale=1, unit="", digits=2)
    assert not null.significant() and f"bound it to {lo:+.2f} .. {hi:+.2f}" in text
    # Equivalence: the 90% CI inside ±margin (two one-sided tests at 5%).
    lo90, hi90 = null.ci(0.9)
    wide = max(abs(lo90), abs(hi90))
    assert null.equivalent(wide * 1.01) and not null.equivalent(wide * 0.99)
    assert "; equivalent within" in null.describe(margin=wide * 1.01)
    assert "not shown equivalent" in null.describe(margin=wide * 0.99)
    with pytest.raises(ValueError, match="positive"):
        null.equivalent(0)
    w = welch_test([1, 3], [5, 7])
    assert w.kind == "Welch" and w.n == (2, 2) and "(Welch, 2 seeds)" in w.describe()


def test_holm_by_hand():
    # m = 3: sorted 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04 (made non-decreasing).
    assert holm([0.04, 0.01, 0.02]) == approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.6]) == approx([1.0, 1.0])
    assert holm([0.03]) == [0.03]
    assert holm([]) == []
    with pytest.raises(ValueError):
        holm([1.2])


def test_binomial_se():
    assert binomial_se(0.5, 5000) == approx(0.00707, abs=1e-5)  # "about 0.7 points"
    with pytest.raises(ValueError):
        binomial_se(1.5, 10)


def test_gap_growth_rule():
    train_early, held_early = [0.50, 0.51, 0.52, 0.50], [0.49, 0.50, 0.50, 0.49]
    train_late, held_late = [0.60, 0.62, 0.61, 0.62], [0.55, 0.56, 0.56, 0.555]
    g = gap_growth(train_early, held_early, train_late, held_late, (1000, 1500))
    assert g.grows and g.change.kind == "paired" and "it grows" in g.describe()
    assert g.early.mean == approx(0.0125) and g.late.mean == approx(0.05625)
    shrinks = gap_growth(train_late, held_late, train_early, held_early, (1, 2))
    assert shrinks.change.significant() and shrinks.grows is False  # significant, but down
    same = gap_growth(train_early, held_early, train_early, held_early, (1, 2))
    assert same.grows is None  # no change at all: nothing to test
    one = gap_growth([0.6], [0.5], [0.7], [0.5], (1, 2))
    assert one.grows is None and "not judged: one seed" in one.describe()


def test_overfitting_rule():
    # Held-out accuracy still rising while the gap grows: not overfitting (issue defect 2).
    rising = overfitting([0.49, 0.50, 0.50, 0.49], [0.55, 0.56, 0.56, 0.555], (1, 2))
    assert rising.overfits is False and "did not get worse" in rising.describe()
    falling = overfitting([0.55, 0.56, 0.56, 0.555], [0.49, 0.50, 0.51, 0.495], (1, 2))
    assert falling.overfits is True and "overfitting" in falling.describe()
    # The loss alone getting worse counts, after Holm over the two tests.
    flat = [0.50, 0.51, 0.50, 0.51]
    worse_loss = overfitting(flat, [0.501, 0.509, 0.502, 0.508], (1, 2),
                             [1.40, 1.41, 1.39, 1.40], [1.60, 1.62, 1.61, 1.60])
    assert worse_loss.overfits is True and len(worse_loss.adjusted) == 2
    assert worse_loss.adjusted[1] == approx(min(1, 2 * worse_loss.loss.p))
    assert overfitting([0.5], [0.4], (1, 2)).overfits is None


class _FakeRun:
    def __init__(self, seed, train_acc, test_acc, test_loss):
        self.seed = seed
        self.curves = {"train": {"step": [50, 100, 150, 200], "accuracy": train_acc},
                       "eval": {"step": [100, 200], "test_accuracy": test_acc,
                                "test_loss": test_loss}}

    def at(self, step, metric="test_accuracy", curve="eval", window=None):
        from course_lib.results import Run
        return Run.at(self, step, metric, curve, window)


def test_generalisation_from_runs_and_run_at():
    from course_lib.results import Run
    runs = [_FakeRun(s, [0.4, 0.5 + d, 0.6, 0.7 + 2 * d], [0.45, 0.5 + d], [1.5, 1.4 - d])
            for s, d in enumerate([0.0, 0.01, 0.02, 0.005])]
    r = runs[0]
    assert Run.at(r, 100, "accuracy", curve="train") == 0.5
    assert Run.at(r, 200, "accuracy", curve="train", window=100) == approx(0.65)
    assert Run.at(r, 120) is None and Run.at(r, 200, "test_loss") == 1.4
    with pytest.raises(KeyError, match="no 'val'"):
        Run.at(r, 100, curve="val")
    g = generalisation(runs, 100, 200)  # window: the 100 steps since the previous evaluation
    assert g.gap.early.values == approx([0, 0.005, 0.01, 0.0025])  # (0.4 + 0.5 + d) / 2 - 0.45
    assert g.overfitting.overfits is False and g.gap.grows
    assert "generalisation gap" in g.describe()
    with pytest.raises(ValueError, match="at step 150"):
        generalisation(runs, 100, 150)


def test_compare_configurations():
    one = compare_configurations([0.5280], [0.5196], n_images=5000, names=("leader", "report"))
    assert one.distinguishable is None and one.reason.startswith("not judged: one seed")
    assert "+0.84 points" in one.reason and "about 0.7 points" in one.reason
    seeds = compare_configurations([0.53, 0.531, 0.529], [0.52, 0.5205, 0.519])
    assert seeds.distinguishable is True and seeds.difference.kind == "paired"
    close = compare_configurations([0.53, 0.52, 0.525], [0.525, 0.526, 0.52], paired=False)
    assert close.distinguishable is False and "not distinguishable" in close.describe()
