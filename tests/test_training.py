"""The one training loop: which steps evaluate, how the curves average, several models at once."""

import numpy as np
import pytest
import torch

from course_lib.training import Curves, eval_steps, summarize, train


def test_eval_steps_include_the_last_and_respect_first():
    assert eval_steps(10, 4) == {4, 8, 10}
    assert eval_steps(10, None) == {10}
    assert eval_steps(10, 4, first=5) == {8, 10}


def test_loop_averages_windows_and_evaluates_on_schedule():
    calls = []

    def step(t):
        calls.append(t)
        return float(t), t / 10

    out = train(step, lambda t: {"test_accuracy": [0, 0, 0.4, 0, 0, 0.3][t - 1],
                                 "test_loss": 1.0 / t},
                steps=6, eval_every=3, train_avg=2, show_progress=False)
    assert calls == [1, 2, 3, 4, 5, 6]
    c = out.curves.of(0)
    assert c["train"]["step"] == [2, 4, 6] and c["train"]["loss"] == [1.5, 3.5, 5.5]
    assert c["train"]["accuracy"] == pytest.approx([0.15, 0.35, 0.55])
    assert c["eval"]["step"] == [3, 6] and c["eval"]["test_accuracy"] == [0.4, 0.3]
    final, best = summarize(c)
    assert final["test_accuracy"] == 0.3 and final["step"] == 6 and final["train_loss"] == 5.5
    assert best == {"test_accuracy": 0.4, "step": 3}
    assert out.wall_time >= out.eval_time >= 0


def test_window_mean_is_the_mean_of_the_floats_bit_for_bit():
    """Curves store exactly np.mean of the window's values, whatever form they arrive in."""
    rng = np.random.default_rng(0)
    values = rng.random((10, 3)).astype(np.float32)
    as_tensors, as_arrays = Curves(), Curves()
    as_tensors.add_train(10, list(torch.from_numpy(values)), list(torch.from_numpy(values)))
    as_arrays.add_train(10, list(values), list(values))
    for k in range(3):
        expected = np.mean([float(v) for v in values[:, k]])
        assert as_tensors.of(k)["train"]["loss"] == [expected]
        assert as_arrays.of(k)["train"]["accuracy"] == [expected]


def test_window_since_last_evaluation_and_continued_training():
    def step(t):
        return np.array([t, 10 * t], float), np.array([0.5, 0.25])

    first = train(step, lambda t: {"validation_accuracy": np.array([t, -t], float)},
                  steps=4, eval_every=None, train_avg=None, show_progress=False)
    later = train(step, lambda t: {"validation_accuracy": np.array([t, -t], float),
                                   "test_accuracy": None},
                  steps=10, eval_every=None, train_avg=None, first=5, show_progress=False)
    merged = Curves()
    merged.extend(first.curves, 1)
    merged.extend(later.curves, 1)
    c = merged.of(0)
    assert c["train"]["step"] == [4, 10] and c["train"]["loss"] == [25.0, 75.0]
    assert c["eval"]["validation_accuracy"] == [-4.0, -10.0]
    assert later.curves.of(0)["eval"]["test_accuracy"] == [None]  # not measured
    assert c["eval"]["test_accuracy"] == [None, None]  # a metric that appears late is aligned
    diverged = train(lambda t: (float("nan"), 0.0), lambda t: {"test_loss": float("nan")},
                     steps=2, eval_every=None, train_avg=1, show_progress=False).curves.of(0)
    assert np.isnan(diverged["train"]["loss"]).all() and np.isnan(diverged["eval"]["test_loss"])


def test_summarize_skips_unmeasured_points_and_needs_an_evaluation():
    c = {"train": {"step": []}, "eval": {"step": [5, 10], "test_accuracy": [None, 0.2]}}
    assert summarize(c)[1] == {"test_accuracy": 0.2, "step": 10}
    with pytest.raises(ValueError, match="no evaluation"):
        summarize({"train": {"step": []}, "eval": {"step": []}})


def test_a_metric_first_measured_later_stays_aligned_with_its_steps():
    c = Curves()
    c.add_eval(1, test_accuracy=0.1)
    c.add_eval(2, test_accuracy=0.2, validation_accuracy=0.3)
    assert c.of()["eval"] == {"step": [1, 2], "test_accuracy": [0.1, 0.2],
                              "validation_accuracy": [None, 0.3]}
