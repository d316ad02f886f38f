"""course_lib.reproduction on synthetic records written with results.record to temporary dirs."""

import numpy as np
import pytest

from course_lib import data, profiles, reproduction, results
from course_lib.reproduction import CLAIMS, Stat


def make_run(seed, final_acc, acc_by_step=None, **keys):
    """A run in the format of results.record: curves, final and best from an eval curve."""
    acc_by_step = acc_by_step or {1500: final_acc}
    steps = sorted(acc_by_step)
    accs = [acc_by_step[s] for s in steps]
    best = int(np.argmax(accs))
    return dict(
        seed=seed, **keys,
        final=dict(test_accuracy=final_acc, test_loss=1.5, step=steps[-1]),
        best=dict(test_accuracy=accs[best], step=steps[best]),
        curves=dict(train=dict(step=[10], loss=[2.0], accuracy=[0.3]),
                    eval=dict(step=steps, test_loss=[1.5] * len(steps), test_accuracy=accs)),
        wall_time=1.0)


def write(experiment, runs, profile="cpu", directory=None, settings=None, device="cpu", **extra):
    if settings is None:
        settings = profiles.settings(experiment, profile) if experiment != "init_ablation" else {}
    return results.record(experiment, profile, settings, runs, device=device, wall_time=60.0,
                          directory=directory, **extra)


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """This build's results in tmp/build ($COURSE_RESULTS); recorded GPU results in tmp/recorded."""
    build = tmp_path / "build"
    monkeypatch.setenv(results.ENV_VAR, str(build))
    monkeypatch.setenv(profiles.ENV_VAR, "cpu")
    return build, tmp_path / "recorded"


def rows_by_key(rows):
    return {row.claim.key: row for row in rows}


def numpy_runs(final=(0.466, 0.470, 0.462), at_1000=(0.488, 0.480, 0.484), peak=1000):
    runs = []
    for seed, (f, a) in enumerate(zip(final, at_1000)):
        curve = {500: 0.40, 1000: a, 1500: f}
        if peak == 1500:
            curve[1500] = max(f, a) + 0.01
            f = curve[1500]
        runs.append(make_run(seed, f, curve, learning_rate=1e-3))
    # runs at another learning rate must not count
    runs.append(make_run(0, 0.10, {1000: 0.10, 1500: 0.10}, learning_rate=2e-3))
    return runs


def test_stat_mean_std_seed0_and_max():
    s = Stat(values=(0.5, 0.7, 0.6), seeds=(2, 0, 1))
    assert s.mean == pytest.approx(0.6)
    assert s.std == pytest.approx(0.1)  # sample std, ddof=1
    assert s.seed_value(0) == 0.7 and s.seed_value(5) is None
    assert s.max == 0.7 and s.argmax_seed == 0
    assert Stat(values=(0.5,), seeds=(0,)).std is None


def test_missing_everything_is_not_run(dirs):
    build, recorded = dirs
    rows = reproduction.compare(recorded_dir=recorded)
    assert len(rows) == len(CLAIMS)
    for row in rows:
        assert row.verdict == "not run" and row.agrees is None
        assert reproduction.format_measured(row.claim, row.build) == "not run"
        assert reproduction.format_recorded(row.claim, row.recorded) == ""
    text = " ".join(reproduction.summary(rows))
    assert "Not run in this build" in text and "No paper-profile GPU result" in text
    assert "not run" in reproduction.html_table(rows)


def test_numpy_mlp_rows_use_only_the_main_learning_rate(dirs):
    build, recorded = dirs
    write("numpy_mlp", numpy_runs())
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    final = rows["numpy_final"].build.value
    assert final.n == 3 and final.mean == pytest.approx(np.mean([0.466, 0.470, 0.462]))
    at_1000 = rows["numpy_step1000"].build.value
    assert at_1000.seed_value(0) == pytest.approx(0.488)
    assert rows["numpy_final"].agrees is True  # the report's 46.6% is within 2 std
    assert rows["numpy_final"].verdict.startswith("agrees")
    assert rows["numpy_final"].scale == "the report's full scale"
    assert rows["numpy_peak_step"].build.value.values == (1000, 1000, 1000)
    assert rows["numpy_peak_step"].agrees is True


def test_a_value_far_from_the_report_differs(dirs):
    build, recorded = dirs
    # at step 1,500 every seed is 1 pp above max(final, step 1,000): 51.0, 52.0, 51.5%
    write("numpy_mlp", numpy_runs(final=(0.50, 0.51, 0.505), peak=1500))
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    assert rows["numpy_final"].agrees is False
    assert rows["numpy_final"].verdict.startswith("differs")
    # the peak is at the last step for every seed: the report's "peak at 1,000" differs
    assert rows["numpy_peak_step"].build.value.values == (1500, 1500, 1500)
    assert rows["numpy_peak_step"].agrees is False
    assert reproduction.format_difference(rows["numpy_final"].claim,
                                          rows["numpy_final"].build.value) == "+4.9 pp"
    assert "These differ" in " ".join(reproduction.summary(list(rows.values())))


def test_accuracy_at_a_step_that_was_not_evaluated_is_missing(dirs):
    build, recorded = dirs
    write("numpy_mlp", [make_run(0, 0.47, {1500: 0.47}, learning_rate=1e-3)])
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    assert rows["numpy_step1000"].build.value is None
    assert rows["numpy_step1000"].verdict == "not in the record"
    assert rows["numpy_final"].build.value.n == 1
    assert rows["numpy_final"].verdict == "one run, no spread to compare with"


def test_cnn_variants_mean_best_and_scaled_profile(dirs):
    build, recorded = dirs
    runs = [make_run(s, a, variant="batch_norm") for s, a in enumerate((0.60, 0.62))]
    runs += [make_run(s, a, variant="no_batch_norm") for s, a in enumerate((0.55, 0.57))]
    write("cnn", runs)
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    assert rows["cnn_mean"].build.value.mean == pytest.approx(0.61)
    assert rows["cnn_best"].build.value.max == pytest.approx(0.62)
    assert rows["cnn_best"].build.value.argmax_seed == 1
    assert rows["cnn_no_bn"].build.value.mean == pytest.approx(0.56)
    # the cpu profile scales the CNN down: shown, not judged
    assert rows["cnn_mean"].verdict == "not comparable: scaled down"
    assert rows["cnn_mean"].agrees is None
    assert rows["cnn_mean"].scale == profiles.scale_note("cnn", "cpu")
    assert not rows["cnn_mean"].full_scale
    notes = reproduction.scale_notes(list(rows.values()))
    assert notes == {"cnn": profiles.scale_note("cnn", "cpu")}
    assert "not judged" in " ".join(reproduction.summary(list(rows.values())))


def test_recorded_gpu_results_fill_the_last_column(dirs):
    build, recorded = dirs
    runs = [make_run(s, 0.770 + 0.004 * (s - 4.5), variant="batch_norm") for s in range(10)]
    runs += [make_run(0, 0.738, variant="no_batch_norm")]
    write("cnn", runs, profile="paper", directory=recorded, device="cuda")
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    rec = rows["cnn_mean"].recorded
    assert rec.found and rec.profile == "paper" and rec.device.startswith("cuda")
    text = reproduction.format_recorded(rows["cnn_mean"].claim, rec)
    assert text.startswith("77.0% ± ") and "[+0.0 pp]" in text and rec.date in text
    assert rows["cnn_mean"].build.value is None  # nothing in this build


def test_paper_profile_build_is_judged(dirs, monkeypatch):
    build, recorded = dirs
    monkeypatch.setenv(profiles.ENV_VAR, "paper")
    runs = [make_run(s, 0.770 + 0.004 * (s - 4.5), variant="batch_norm") for s in range(10)]
    write("cnn", runs, profile="paper")
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    assert rows["cnn_mean"].agrees is True
    assert rows["cnn_best"].verdict.startswith("best of 10")


def grid_runs():
    """A tiny grid in mlp_grid's format: two configurations reach the last rung, one stops early
    (successive halving: validation measured, test not)."""
    def grid_run(index, units, lr, test, val, step):
        config = dict(first_hidden=units, weight_decay=0.1, dropout=0.1, learning_rate=lr)
        run = make_run(0, test, {step: test}, index=index, config=config, steps_trained=step)
        run["final"]["validation_accuracy"] = val
        return run
    early = grid_run(2, 400, 5e-4, test=0.0, val=0.60, step=150)
    early["final"].update(test_accuracy=None, test_loss=None)
    return [grid_run(0, 600, 1e-4, test=0.52, val=0.50, step=1200),
            grid_run(1, 1000, 1e-3, test=0.53, val=0.49, step=1200), early]


def test_grid_selection_from_runs(dirs):
    build, recorded = dirs
    write("mlp_grid", grid_runs())
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    by_test, by_val = rows["grid_config_test"].build.value, rows["grid_config_val"].build.value
    assert by_test == {"first_hidden": 1000, "weight_decay": 0.1, "dropout": 0.1,
                       "learning_rate": 1e-3}
    assert by_val["first_hidden"] == 600 and by_val["learning_rate"] == 1e-4
    assert rows["grid_acc_test"].build.value.values == (0.53,)
    assert reproduction.config_difference(by_test) == ["units", "lr"]
    assert reproduction.config_difference(by_val) == []
    # the cpu grid is a scaled-down search: configurations are shown, not judged
    assert rows["grid_config_val"].verdict == "same configuration (scaled-down search)"
    assert reproduction.format_config(by_val) == "600 units, wd 0.1, dropout 0.1, lr 1e-04"


def test_grid_selection_stated_in_the_record_wins(dirs):
    build, recorded = dirs
    stated = dict(index=7, config=dict(first_hidden=400, weight_decay=0.01, dropout=0.5,
                                       learning_rate=5e-4),
                  validation_accuracy=0.5, test_accuracy=0.51, steps_trained=1200)
    write("mlp_grid", grid_runs(), by_validation=stated)
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    assert rows["grid_config_val"].build.value["first_hidden"] == 400
    assert rows["grid_config_test"].build.value["first_hidden"] == 1000  # from the runs


def test_grid_choice_rejects_unknown_criterion():
    with pytest.raises(ValueError, match="validation"):
        reproduction.grid_choice({"runs": []}, "train")


def test_unreadable_record_is_reported_not_raised(dirs):
    build, recorded = dirs
    bad = [dict(seed=0, final=dict(test_loss=1.0))]  # no test_accuracy
    write("torch_mlp", bad)
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    row = rows["torch_final"]
    assert row.build.error and row.verdict == "record not understood" and row.agrees is None
    assert "KeyError" in reproduction.format_measured(row.claim, row.build)
    assert "could not read" in " ".join(reproduction.summary(list(rows.values())))


def test_tables_escape_and_list_every_claim(dirs):
    build, recorded = dirs
    write("numpy_mlp", numpy_runs())
    rows = reproduction.compare(recorded_dir=recorded)
    table = reproduction.html_table(rows)
    assert table.count("<tr>") == len(CLAIMS) + 1
    assert "46.6%" in table and "± " in table and "profile cpu" in table
    prov = reproduction.provenance(recorded_dir=recorded)
    found = [e for e in prov if e["found"]]
    assert [e["experiment"] for e in found] == ["numpy_mlp"]
    assert len(prov) == 2 * len(reproduction.ALL_EXPERIMENTS)
    assert "numpy_mlp" in reproduction.provenance_html(prov)


def tiny_cifar(n_train=80, n_test=40, seed=0):
    """Random 32x32 colour images with random labels: enough to run every experiment."""
    rng = np.random.default_rng(seed)
    x = (20 * rng.standard_normal((n_train + n_test, 3, 32, 32))).astype(np.float32)
    y = rng.integers(0, 10, n_train + n_test).astype(np.int64)
    return data.CIFAR10(x[:n_train], y[:n_train], x[n_train:], y[n_train:],
                        [str(c) for c in range(10)], np.zeros((3, 32, 32), np.float32))


#: Smoke settings shrunk further to the tiny data set.
TINY = {
    "numpy_mlp": dict(steps=20, eval_every=10, seeds=[0, 1], compare_learning_rates=[1e-3],
                      batch_size=20),
    "torch_mlp": dict(steps=20, eval_every=10, seeds=[0, 1], batch_size=20),
    "mlp_grid": dict(batch_size=20, validation_size=20),
    "mlp_best": dict(steps=20, eval_every=10, batch_size=20),
    "cnn": dict(eval_size=16),
}


def test_records_of_the_real_experiments_are_understood(dirs, monkeypatch):
    """Every experiment function of the course, run for a few steps, writes records that this
    module reads without error: the check that the record format and this page agree."""
    from course_lib import convnet, mlp_grid, numpy_mlp, torch_mlp

    build, recorded = dirs
    real = profiles.settings
    monkeypatch.setattr(profiles, "settings", lambda exp, profile=None: {
        **real(exp, "smoke"), "train_size": None, "test_size": None, **TINY.get(exp, {})})
    cifar = tiny_cifar()
    numpy_mlp.run_experiment(cifar, profile="smoke", show_progress=False)
    torch_mlp.run_experiment(cifar, profile="smoke", device="cpu", show_progress=False)
    grid = mlp_grid.run_grid(cifar, profile="smoke", device="cpu", show_progress=False)
    # the grid states both selections (named selected_by_... or, earlier, by_...)
    chosen = {by: grid.get(f"selected_by_{by}") or grid[f"by_{by}"]
              for by in ("validation", "test")}
    mlp_grid.run_best(cifar, chosen["validation"]["config"], profile="smoke", device="cpu",
                      show_progress=False)
    convnet.run_experiment(cifar, profile="smoke", device="cpu", show_progress=False)

    rows = rows_by_key(reproduction.compare("smoke", recorded_dir=recorded))
    for key, row in rows.items():
        assert row.build.error is None, f"{key}: {row.build.error}"
        assert row.build.has_record, key
    # 20 steps never reach step 1,000; everything else is measured
    assert rows.pop("numpy_step1000").verdict == "not in the record"
    for key, row in rows.items():
        assert row.build.found, key
    assert rows["numpy_final"].build.value.n == 2
    assert rows["cnn_mean"].build.value.n == 2 and rows["cnn_no_bn"].build.value.n == 2
    assert rows["grid_config_val"].build.value == chosen["validation"]["config"]
    assert rows["grid_config_test"].build.value == chosen["test"]["config"]
    assert rows["grid_acc_test"].build.value.values == (chosen["test"]["test_accuracy"],)
    assert all(r.verdict == "not comparable: scaled down" for r in rows.values()
               if r.claim.kind == "accuracy" and r.claim.reduce == "mean")
