"""course_lib.reproduction on synthetic records written to temporary folders."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats as st

from course_lib import data, profiles, reproduction, results
from course_lib.reproduction import CLAIMS
from course_lib.results import Run


def make_run(seed, final_acc, acc_by_step=None, variant="", **info):
    acc_by_step = acc_by_step or {1500: final_acc}
    steps = sorted(acc_by_step)
    accs = [acc_by_step[s] for s in steps]
    best = int(np.argmax(accs))
    return Run(seed, dict(test_accuracy=final_acc, test_loss=1.5, step=steps[-1]),
               dict(test_accuracy=accs[best], step=steps[best]),
               dict(train=dict(step=[10], loss=[2.0], accuracy=[0.3]),
                    eval=dict(step=steps, test_loss=[1.5] * len(steps), test_accuracy=accs)),
               1.0, variant, info)


#: The report's data: verdicts on it need no remark about the data.
OFFICIAL = SimpleNamespace(fingerprint={"kind": "official", "hash": "0123456789ab"})


def write(experiment, runs, profile="cpu", directory=None, device="cpu", data=OFFICIAL, **info):
    return results.make_record(profiles.settings(experiment, profile), experiment, runs, device,
                               60.0, directory, data=data, **info)


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """This build's results in tmp/build ($COURSE_RESULTS); recorded GPU results in tmp/recorded."""
    build = tmp_path / "build"
    monkeypatch.setenv(results.ENV_VAR, str(build))
    monkeypatch.setenv(profiles.ENV_VAR, "cpu")
    return build, tmp_path / "recorded"


def rows_by_key(rows):
    return {row.claim.key: row for row in rows}


def column(table, start):
    """A column of the table by the start of its name (the names carry the data's identity)."""
    return table[next(c for c in table.columns if c.startswith(start))]


def numpy_runs(final=(0.466, 0.470, 0.462), at_1000=(0.488, 0.480, 0.484), peak=1000):
    runs = []
    for seed, (f, a) in enumerate(zip(final, at_1000)):
        curve = {500: 0.40, 1000: a, 1500: f}
        if peak == 1500:
            curve[1500] = max(f, a) + 0.01
            f = curve[1500]
        runs.append(make_run(seed, f, curve, learning_rate=1e-3))
    # a run at another learning rate must not count
    runs.append(make_run(0, 0.10, {1000: 0.10, 1500: 0.10}, learning_rate=2e-3))
    return runs


def test_missing_everything_is_not_run(dirs):
    build, recorded = dirs
    rows = reproduction.compare(recorded_dir=recorded)
    assert len(rows) == len(CLAIMS)
    for row in rows:
        assert row.verdict == reproduction.Verdict(None, "not run")
    table = reproduction.table(rows)
    assert list(column(table, "This build")) == ["not run"] * len(CLAIMS)
    text = " ".join(reproduction.summary(rows))
    assert "No value in this build" in text and "No recorded full-scale value" in text


def test_numpy_mlp_rows_use_only_the_main_learning_rate(dirs):
    build, recorded = dirs
    write("numpy_mlp", numpy_runs())
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    assert rows["numpy_final"].build.value == [0.466, 0.470, 0.462]
    assert rows["numpy_step1000"].build.value[0] == pytest.approx(0.488)
    # the report's one run, 46.6%, inside the 95% prediction interval of one run of ours
    assert rows["numpy_final"].verdict.agrees is True
    assert rows["numpy_final"].verdict.reason.startswith(
        "inside the 95% prediction interval of one run, ")
    assert rows["numpy_final"].full_scale
    assert rows["numpy_peak_step"].build.value == [1000, 1000, 1000]
    # a step is discrete and capped: counted, not judged
    assert rows["numpy_peak_step"].verdict == reproduction.Verdict(
        None, "3 of 3 seeds at 1,000, 0 of 3 at the last step (1,500)")


def test_a_value_far_from_the_report_differs(dirs):
    build, recorded = dirs
    write("numpy_mlp", numpy_runs(final=(0.50, 0.51, 0.505), peak=1500))
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    assert rows["numpy_final"].verdict.agrees is False
    assert rows["numpy_final"].verdict.reason.startswith("outside the 95% prediction interval")
    assert rows["numpy_peak_step"].build.value == [1500, 1500, 1500]
    assert rows["numpy_peak_step"].verdict.reason.startswith("0 of 3 seeds at 1,000, 3 of 3 at")
    table = reproduction.table(list(rows.values()))
    assert table["Difference"][0] == "+4.9 pp" and table["Difference"][2] == ""  # no step gap
    assert "These differ" in " ".join(reproduction.summary(list(rows.values())))


@pytest.mark.parametrize("n", [3, 5])
def test_a_single_run_is_judged_by_the_prediction_interval_of_one_run(dirs, n):
    """The report's one run agrees exactly when it lies in mean ± t·s·sqrt(1 + 1/n) (scipy)."""
    build, recorded = dirs
    final = np.linspace(0.48, 0.50, n)
    lo, hi = st.t.interval(0.95, n - 1, loc=final.mean(),
                           scale=final.std(ddof=1) * np.sqrt(1 + 1 / n))
    claim = next(c for c in CLAIMS if c.key == "numpy_final")
    for stated, inside in ((lo + 1e-4, True), (hi - 1e-4, True), (lo - 1e-4, False),
                           (hi + 1e-4, False)):
        m = reproduction.Measured(list(final), record=None)
        c = dataclasses.replace(claim, stated=dataclasses.replace(claim.stated, value=stated))
        v = reproduction.judge(c, m, full_scale=True)
        assert v.agrees is inside, (stated, lo, hi)
        assert f"{100 * lo:.1f}–{100 * hi:.1f}%" in v.reason
        t = st.t.ppf(0.975, n - 1)
        assert bool(v.distance <= t) is inside


def test_a_mean_over_seeds_is_judged_by_welchs_test(dirs, monkeypatch):
    """The report's CNN figure is a 10-seed mean ± std: compared by the standard error of the
    difference of means, not by seed standard deviations."""
    build, recorded = dirs
    monkeypatch.setenv(profiles.ENV_VAR, "paper")
    stated = reproduction.report.CNN_MEAN  # 77.0% ± 0.6 over 10 seeds
    for shift, agrees in ((-0.002, True), (-0.008, False)):
        accs = stated.value + shift + 0.008 * np.linspace(-1, 1, 10)
        write("cnn", [make_run(s, a, variant="batch_norm") for s, a in enumerate(accs)],
              profile="paper")
        v = rows_by_key(reproduction.compare(recorded_dir=recorded))["cnn_mean"].verdict
        ref = st.ttest_ind_from_stats(accs.mean(), accs.std(ddof=1), 10, stated.value,
                                      stated.std, stated.seeds, equal_var=False)
        assert v.agrees is agrees and v.distance == pytest.approx(abs(ref.statistic))
        assert f"p = {ref.pvalue:.2g}" in v.reason
        # two seed standard deviations (the old rule) would have called both shifts agreeing
        assert abs(accs.mean() - stated.value) < 2 * accs.std(ddof=1)


def test_accuracy_at_a_step_that_was_not_evaluated_is_missing(dirs):
    build, recorded = dirs
    write("numpy_mlp", [make_run(0, 0.47, {1500: 0.47}, learning_rate=1e-3)])
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    assert rows["numpy_step1000"].build.value is None
    assert rows["numpy_step1000"].verdict.reason == "not in the record"
    assert rows["numpy_final"].verdict.reason == "one run, no spread"


def test_cnn_variants_mean_best_and_scaled_profile(dirs):
    build, recorded = dirs
    runs = [make_run(s, a, variant="batch_norm") for s, a in enumerate((0.60, 0.62))]
    runs += [make_run(s, a, variant="no_batch_norm") for s, a in enumerate((0.55, 0.57))]
    write("cnn", runs)
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    assert np.mean(rows["cnn_mean"].build.value) == pytest.approx(0.61)
    assert reproduction.point(rows["cnn_best"].claim, rows["cnn_best"].build.value) == 0.62
    assert np.mean(rows["cnn_no_bn"].build.value) == pytest.approx(0.56)
    # the cpu profile scales the CNN down: shown, not judged
    assert rows["cnn_mean"].verdict == reproduction.Verdict(None, "scaled down")
    assert not rows["cnn_mean"].full_scale
    assert "scaled down" in column(reproduction.table(list(rows.values())), "This build")[8]
    assert "not judged" in " ".join(reproduction.summary(list(rows.values())))


def test_recorded_gpu_results_fill_their_columns(dirs):
    build, recorded = dirs
    runs = [make_run(s, 0.770 + 0.004 * (s - 4.5), variant="batch_norm") for s in range(10)]
    runs += [make_run(0, 0.738, variant="no_batch_norm")]
    write("cnn", runs, profile="paper", directory=recorded, device="cuda")
    rows = reproduction.compare(recorded_dir=recorded)
    row = rows_by_key(rows)["cnn_mean"]
    assert row.recorded.found and row.recorded.record.profile == "paper"
    table = reproduction.table(rows)
    assert column(table, "Recorded full-scale run")[8].startswith("77.0% ± ")
    assert table["Recorded difference"][8] == "+0.0 pp"
    # the recorded column is judged too, by the same rules (a CPU build judges it)
    assert row.recorded_verdict.agrees is True and row.verdict.reason == "not run"
    assert table["Recorded verdict"][8] == row.recorded_verdict.reason
    lo, hi = row.recorded_verdict.interval  # where the report's mean must lie to agree
    assert lo < 0.770 < hi
    assert "the recorded full-scale run could judge" in " ".join(reproduction.summary(rows))
    assert row.build.value is None  # nothing in this build
    prov = reproduction.provenance(recorded_dir=recorded)
    assert list(prov[prov["runs"] > 0]["experiment"]) == ["cnn"]
    assert len(prov) == 2 * len(profiles.EXPERIMENTS)  # this build and recorded, each


def test_paper_profile_build_is_judged(dirs, monkeypatch):
    build, recorded = dirs
    monkeypatch.setenv(profiles.ENV_VAR, "paper")
    runs = [make_run(s, 0.770 + 0.004 * (s - 4.5), variant="batch_norm") for s in range(10)]
    write("cnn", runs, profile="paper")
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    assert rows["cnn_mean"].verdict.agrees is True
    assert rows["cnn_best"].verdict.reason == "best of 10 seeds"


def test_grid_selections_come_from_the_record(dirs):
    build, recorded = dirs
    config = dict(first_hidden=600, weight_decay=0.1, dropout=0.1, learning_rate=1e-4)
    other = dict(config, first_hidden=1000, learning_rate=1e-3)
    write("mlp_grid", [make_run(0, 0.52)],
          selected_by_validation=dict(config=config, test_accuracy=0.52),
          selected_by_test=dict(config=other, test_accuracy=0.53))
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    assert rows["grid_config_val"].build.value == config
    assert rows["grid_config_test"].build.value == other
    assert rows["grid_acc_test"].build.value == [0.53]
    # the cpu grid is a scaled-down search: configurations are shown, not judged
    assert rows["grid_config_val"].verdict == reproduction.Verdict(
        None, "same configuration, scaled-down search")
    assert reproduction.show(rows["grid_config_val"].claim, config) == \
        "600 units, wd 0.1, dropout 0.1, lr 1e-04"


def test_a_different_configuration_of_a_one_seed_grid_is_not_judged(dirs):
    """Issue 25, defect 3: one seed per configuration cannot order two configurations."""
    build, recorded = dirs
    config = dict(first_hidden=600, weight_decay=0.1, dropout=0.1, learning_rate=1e-4)
    other = dict(config, dropout=0.2)

    def grid_run(c, val, test):
        run = make_run(0, test, config=c, steps_trained=4000)
        run.final["validation_accuracy"] = val
        return run
    write("mlp_grid", [grid_run(other, 0.528, 0.541), grid_run(config, 0.5196, 0.535)],
          profile="paper", directory=recorded,
          selected_by_validation=dict(config=other, test_accuracy=0.541),
          selected_by_test=dict(config=config, test_accuracy=0.535))
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    val, test = rows["grid_config_val"].recorded_verdict, rows["grid_config_test"].recorded_verdict
    assert test == reproduction.Verdict(True, "same configuration")
    assert val.agrees is None and "not judged: one seed" in val.reason
    assert "+0.84 points" in val.reason and "about 0.7 points" in val.reason
    assert "ranks 2 on validation" in val.reason and "report on test" in val.reason
    assert "differ" not in " ".join(reproduction.summary(list(rows.values())))


def test_unreadable_records_are_reported_with_their_path_not_raised(dirs):
    build, recorded = dirs
    write("numpy_mlp", numpy_runs())
    broken = results.path_of("cnn", "cpu")
    broken.write_text('{"schema": 2, "runs": [')  # truncated mid-file
    results.path_of("torch_mlp", "cpu").write_text("")  # empty
    write("mlp_best", [Run(0, {"test_loss": 1.0}, {}, {}, 1.0)])  # no test_accuracy
    rows = rows_by_key(reproduction.compare(recorded_dir=recorded))
    assert rows["numpy_final"].build.found  # the other rows still render
    assert rows["cnn_mean"].build.missing == "unreadable"
    assert str(broken) in rows["cnn_mean"].build.error
    assert rows["tuned_final"].build.error.startswith("mlp_best: KeyError")
    errors = reproduction.unreadable(list(rows.values()))
    assert len(errors) == 3 and any("torch_mlp.json" in e for e in errors)
    prov = reproduction.provenance(recorded_dir=recorded)
    assert str(broken) in " ".join(map(str, prov["profile"]))


def tiny_cifar(n_train=80, n_test=40, seed=0):
    """Random 32x32 colour images with random labels: enough to run every experiment."""
    rng = np.random.default_rng(seed)
    x = (20 * rng.standard_normal((n_train + n_test, 3, 32, 32))).astype(np.float32)
    y = np.tile(np.arange(10), 12)[rng.permutation(n_train + n_test)]
    return data.CIFAR10(x[:n_train], y[:n_train], x[n_train:], y[n_train:],
                        [str(c) for c in range(10)], np.zeros((3, 32, 32), np.float32))


#: Smoke settings shrunk further to the tiny data set.
TINY = {
    "numpy_mlp": dict(steps=20, eval_every=10, seeds=(0, 1), compare_learning_rates=(1e-3,),
                      batch_size=20),
    "torch_mlp": dict(steps=20, eval_every=10, seeds=(0, 1), batch_size=20),
    "mlp_grid": dict(batch_size=20, validation_size=20),
    "mlp_best": dict(steps=20, eval_every=10, batch_size=20),
    "batchnorm_demo": dict(steps=20, eval_every=10, batch_size=20),
    "cnn": dict(eval_size=16),
}


def test_records_of_the_real_experiments_are_understood(dirs):
    """Every runner of the registry, run for a few steps, writes a record that this module
    reads without error: the check that the record format and this page agree."""
    build, recorded = dirs
    cifar, records = tiny_cifar(), {}
    for name, experiment in profiles.EXPERIMENTS.items():
        settings = dataclasses.replace(profiles.settings(name, "smoke"), train_size=None,
                                       test_size=None, **TINY.get(name, {}))
        records[name] = experiment.run(settings, cifar, *(records[n] for n in experiment.needs),
                                       device="cpu", show_progress=False)
    rows = rows_by_key(reproduction.compare("smoke", recorded_dir=recorded))
    for key, row in rows.items():
        assert row.build.error is None, f"{key}: {row.build.error}"
        assert row.build.record is not None, key
    assert rows.pop("numpy_step1000").verdict.reason == "not in the record"  # 20 steps < 1,000
    for key, row in rows.items():
        assert row.build.found, key
    assert len(rows["numpy_final"].build.value) == 2
    assert len(rows["cnn_mean"].build.value) == len(rows["cnn_no_bn"].build.value) == 2
    chosen = records["mlp_grid"].info
    assert rows["grid_config_val"].build.value == chosen["selected_by_validation"]["config"]
    assert rows["grid_config_test"].build.value == chosen["selected_by_test"]["config"]
    assert records["mlp_best"].runs[0].info["config"] == \
        chosen["selected_by_validation"]["config"]
    # tiny_cifar has no fingerprint: every verdict says its data is unknown
    assert all(r.verdict.reason == "scaled down, on unknown data" for r in rows.values()
               if r.claim.kind == "accuracy" and r.claim.reduce == "mean")


def test_every_column_names_its_data_and_verdicts_say_when_data_differ(dirs):
    build, recorded = dirs
    jpeg = {"kind": "offline JPEG rebuild", "hash": "c67ad0c5efe6"}
    write("numpy_mlp", numpy_runs(), data=SimpleNamespace(fingerprint=jpeg))
    record = write("numpy_mlp", numpy_runs(), profile="paper", directory=recorded)
    rows = reproduction.compare(recorded_dir=recorded)
    table = reproduction.table(rows)
    assert "This build: offline JPEG rebuild (c67ad0c5efe6)" in table.columns
    assert "Recorded full-scale run: official (0123456789ab)" in table.columns
    note = reproduction.data_note(rows)
    assert "come from different data" in note and "not the official one" in note
    assert rows_by_key(rows)["numpy_final"].verdict.reason.endswith(
        "%, on offline JPEG rebuild data")
    prov = reproduction.provenance(recorded_dir=recorded)
    assert set(prov["data"].dropna()) == {"offline JPEG rebuild (c67ad0c5efe6)",
                                          "official (0123456789ab)"}
    # the same data in both columns: only the difference to the report's data remains
    record.data = jpeg
    results.save(record, recorded)
    note = reproduction.data_note(reproduction.compare(recorded_dir=recorded))
    assert "come from different data" not in note and "not the official one" in note
