"""Records: typed round trip, schema, damaged and foreign files, unwritable folders, races."""

import dataclasses
import json
import multiprocessing
import os
import re
import sys

import numpy as np
import pytest

from course_lib import profiles, results
from course_lib.results import Record, RecordError, Run


def a_record(tmp_path, experiment="numpy_mlp", **info) -> Record:
    run = Run(0, {"test_accuracy": np.float32(0.5), "step": 3}, {"test_accuracy": 0.5, "step": 3},
              {"train": {"step": [1]}, "eval": {"step": [3], "test_accuracy": [0.5]}}, 1.5,
              info={"learning_rate": 1e-3})
    settings = profiles.settings(experiment, "smoke")
    return results.make_record(settings, experiment, [run], "cpu", 1.5, tmp_path, **info)


def test_round_trip_keeps_types(tmp_path):
    record = a_record(tmp_path, note="hi")
    back = results.load("numpy_mlp", "smoke", tmp_path)
    assert isinstance(back, Record) and isinstance(back.runs[0], Run)
    assert back.settings == record.settings and isinstance(back.settings, profiles.NumpyMLP)
    assert back.settings.seeds == (0, 1)  # a tuple again, not a JSON list
    assert back.runs[0].final["test_accuracy"] == 0.5 and back.info == {"note": "hi"}
    assert back.profile == "smoke" and not back.full_scale and back.schema == results.SCHEMA
    assert back.versions["numpy"] == np.__version__ and back.date and back.device == "cpu"
    assert back.runs[0].at(3) == 0.5 and back.runs[0].at(4) is None
    assert results.load("cnn", "smoke", tmp_path) is None


def test_memory_is_never_written(tmp_path):
    record = a_record(tmp_path)
    record.memory["big"] = np.zeros(3)
    assert "memory" not in json.loads(record.to_json())


def test_select_and_finals(tmp_path):
    runs = [Run(s, {"test_accuracy": a}, {}, {}, 0.0, v) for s, a, v in
            ((1, 0.2, "a"), (0, 0.1, "a"), (0, 0.9, "b"))]
    record = Record("cnn", profiles.settings("cnn", "smoke"), runs, "cpu", 0.0)
    assert [r.seed for r in record.select(variant="a")] == [1, 0]
    assert record.finals(variant="a").tolist() == [0.1, 0.2]  # in seed order


@pytest.mark.parametrize("text, match", [
    ('{"schema": 2, "experiment": "cnn", "runs": [', "not valid JSON"),
    ("", "not valid JSON"),
    ("[1, 2]", "not a record of schema"),
    ("null", "not a record of schema"),
    ('{"experiment": "cnn", "runs": []}', "schema 2 .found None"),
    ('{"schema": 2, "settings": {"experiment": "cnn"}, "runs": [{"seed": 0}]}', "damaged"),
    ('{"schema": 2, "settings": {"experiment": "nope"}, "runs": []}', "damaged"),
])
def test_damaged_or_foreign_records_name_their_file(tmp_path, text, match):
    path = tmp_path / "smoke" / "cnn.json"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(RecordError, match=match) as err:
        results.load("cnn", "smoke", tmp_path)
    assert str(path) in str(err.value)


def test_a_folder_in_place_of_a_record_is_an_error(tmp_path):
    (tmp_path / "smoke" / "cnn.json").mkdir(parents=True)
    with pytest.raises(RecordError, match="cnn.json"):
        results.load("cnn", "smoke", tmp_path)


def test_unwritable_results_folder_is_found_before_training(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(results.ENV_VAR, str(blocker / "results"))
    with pytest.raises(RecordError, match="cannot write results to"):
        results.check_writable("smoke")
    from course_lib import numpy_mlp

    with pytest.raises(RecordError):  # before any step: the data argument is never touched
        numpy_mlp.run(profiles.settings("numpy_mlp", "smoke"), data=None)


def test_a_failed_write_keeps_the_record_elsewhere(tmp_path, capsys):
    record = a_record(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    kept = results.save(record, blocker)
    assert kept.is_file() and kept.parent != blocker and "kept in" in capsys.readouterr().err
    assert Record.from_json(kept.read_text()).runs == record.runs
    kept.unlink()


def test_empty_results_variable_is_an_error(monkeypatch):
    monkeypatch.setenv(results.ENV_VAR, " ")
    with pytest.raises(RecordError, match="empty"):
        results.results_dir()


def _write_many(directory, n):
    record = Record.from_json(open(os.path.join(directory, "template.json")).read())
    target = results.path_of(record.experiment, record.profile, directory)
    for _ in range(n):
        if results.save(record, directory) != target:  # kept elsewhere: a write failed
            sys.exit(3)


def test_concurrent_writers_never_tear_a_file(tmp_path):
    record = a_record(tmp_path)
    record.runs[0].curves["train"] = {"step": list(range(30_000)),  # slow writes
                                      "loss": list(np.linspace(0, 1, 30_000))}
    (tmp_path / "template.json").write_text(record.to_json())
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), 100)) for _ in range(2)]
    for p in procs:
        p.start()
    path = results.path_of("numpy_mlp", "smoke", tmp_path)
    reads = 0
    while any(p.is_alive() for p in procs):
        results.load("numpy_mlp", "smoke", tmp_path)  # never a torn file
        reads += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert results.load("numpy_mlp", "smoke", tmp_path).runs == record.runs
    assert not [f for f in path.parent.iterdir() if f.suffix == ".tmp"] and reads > 0


# --- a record is never replaced by a worse one --------------------------------------------------
def _good_numpy_record(monkeypatch, tmp_path):
    """A real smoke run of the NumPy MLP on tiny synthetic data, written to tmp_path."""
    from conftest import synthetic_data

    from course_lib import numpy_mlp

    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    settings = dataclasses.replace(profiles.settings("numpy_mlp", "smoke"), train_size=None,
                                   test_size=None, steps=20, eval_every=10, seeds=(0,),
                                   compare_learning_rates=(), n_hidden=(20,), init_std=0.1)
    data = synthetic_data()
    record = numpy_mlp.run(settings, data, show_progress=False)
    path = results.path_of("numpy_mlp", "smoke")
    return settings, data, path, path.read_bytes(), record


def test_settings_of_no_runs_are_refused_and_the_good_record_stays(tmp_path, monkeypatch):
    from course_lib import numpy_mlp

    settings, data, path, before, _ = _good_numpy_record(monkeypatch, tmp_path)
    with pytest.raises(profiles.ProfileError, match=r"seeds=\(\).*no run would be trained"):
        numpy_mlp.run(dataclasses.replace(settings, seeds=()), data, show_progress=False)
    with pytest.raises(profiles.ProfileError, match=r"CNN setting seeds=\(\)"):
        dataclasses.replace(profiles.settings("cnn", "smoke"), seeds=())
    assert path.read_bytes() == before


def test_a_record_of_no_runs_is_never_written(tmp_path, monkeypatch):
    settings, _, path, before, record = _good_numpy_record(monkeypatch, tmp_path)
    with pytest.raises(RecordError, match=f"no runs; {path} is left as it was"):
        results.make_record(settings, "numpy_mlp", [], "cpu", 1.0)
    with pytest.raises(RecordError, match="no runs"):
        dataclasses.replace(record, runs=[]).to_json()
    assert path.read_bytes() == before


def test_a_diverging_run_is_named_and_not_recorded(tmp_path, monkeypatch):
    """A real run at a huge learning rate: its loss becomes NaN; the runner says which run
    diverged, where, and leaves the previous record as it was."""
    from course_lib import numpy_mlp

    settings, data, path, before, _ = _good_numpy_record(monkeypatch, tmp_path)
    huge = dataclasses.replace(settings, learning_rate=1e6)
    with np.errstate(all="ignore"), pytest.raises(RecordError) as err:
        numpy_mlp.run(huge, data, show_progress=False)
    assert re.fullmatch(r"the numpy_mlp record \(smoke\) is not written: run seed 0 at learning "
                        r"rate 1e\+06 diverged: train loss is nan by step 10; .* is left as it "
                        r"was", str(err.value)), str(err.value)
    assert str(path) in str(err.value)
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize("where, message", [
    (lambda r: r.runs[0].final.update(test_accuracy=float("inf")),
     r"run seed 0 at learning rate 0.001 diverged: final\['test_accuracy'\] is inf"),
    (lambda r: r.runs[0].curves["eval"].update(test_accuracy=[float("nan")]),
     r"seed 0 at learning rate 0.001 diverged: test_accuracy is nan by step 3"),
    (lambda r: r.info.update(best={"accuracy": np.float32("nan")}),
     r"info\['best'\]\['accuracy'\] is nan, not a finite number"),
    (lambda r: setattr(r, "wall_time", float("nan")), "wall_time is nan"),
])
def test_records_are_strict_json_and_name_a_non_finite_number(tmp_path, where, message):
    record = a_record(tmp_path)
    where(record)
    with pytest.raises(RecordError, match=message):
        record.to_json()
    with pytest.raises(RecordError, match=message):
        results.save(record, tmp_path)
    assert results.load("numpy_mlp", "smoke", tmp_path).runs[0].final["test_accuracy"] == 0.5


# --- a damaged record is named, whatever the damage ---------------------------------------------
def _good_json(tmp_path) -> dict:
    return json.loads(a_record(tmp_path / "good").to_json())


def _set(raw: dict, path: tuple, value) -> dict:
    raw = json.loads(json.dumps(raw))
    *parents, last = path
    target = raw
    for key in parents:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return raw


_DELETE = object()
DAMAGE = [  # (what is changed, to what, the message's words)
    (("runs", 0, "final", "test_accuracy"), "0.5", r"runs\[0\] final\['test_accuracy'\] is '0.5'"),
    (("runs", 0, "curves", "eval", "test_accuracy"), ["0.5"], "holds '0.5', not a number"),
    (("runs", 0, "curves", "eval", "test_accuracy"), [0.5, 0.6], "2 values for 1 steps"),
    (("runs", 0, "curves", "eval"), [], r"curves\['eval'\] is \[\], not an object"),
    (("runs", 0, "final"), [0.5], r"runs\[0\] final is \[0.5\], not object"),
    (("runs", 0, "seed"), "0", "seed is '0', not whole number"),
    (("runs", 0, "seed"), True, "seed is True, not whole number"),
    (("runs", 0, "wall_time"), "fast", "wall_time is 'fast', not number or null"),
    (("runs", 0, "curves"), _DELETE, r"runs\[0\] has no curves"),
    (("runs", 0, "colour"), "red", "unknown field.* colour"),
    (("runs", 0), "run", r"runs\[0\] is 'run', not an object"),
    (("runs",), [], "it has no runs"),
    (("runs",), {"0": {}}, "runs is {'0': {}}, not list"),
    (("runs",), _DELETE, "has no runs"),
    (("settings",), _DELETE, "has no settings"),
    (("settings",), "smoke", "settings is 'smoke', not object"),
    (("settings", "steps"), "many", "NumpyMLP setting steps='many'"),
    (("settings", "seeds"), [], r"NumpyMLP setting seeds=\(\)"),
    (("settings", "experiment"), "cnn", "settings are of 'cnn', not of 'numpy_mlp'"),
    (("settings", "profile"), "gpu", "setting profile='gpu'"),
    (("experiment",), 3, "experiment is 3, not text"),
    (("wall_time",), None, "wall_time is None, not number"),
    (("info",), [], "info is .*, not object"),
    (("commit",), 7, "commit is 7, not text or null"),
]


@pytest.mark.parametrize("path, value, message", DAMAGE)
def test_every_kind_of_damage_is_named_with_the_file(tmp_path, path, value, message):
    target = results.path_of("numpy_mlp", "smoke", tmp_path)
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(_set(_good_json(tmp_path), path, value)))
    with pytest.raises(RecordError, match=message) as err:
        results.load("numpy_mlp", "smoke", tmp_path)
    assert str(target) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("blob, message", [
    (bytes(range(256)) * 4, r"not a text file \(byte 0x80 at offset 128"),
    (b'{"schema": 2, "runs": [{"final": {"test_accuracy": NaN}}]}', "holds NaN"),
    (b'{"schema": 2, "wall_time": -Infinity}', "holds -Infinity"),
    (b"[" * 100_000, "not valid JSON"),
    (b"\xef\xbb\xbf{}", "not valid JSON"),  # a byte-order mark
])
def test_bytes_that_are_not_a_record_are_named(tmp_path, blob, message):
    target = results.path_of("cnn", "smoke", tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(blob)
    with pytest.raises(RecordError, match=message) as err:
        results.load("cnn", "smoke", tmp_path)
    assert str(target) in str(err.value)


def test_a_record_in_the_wrong_file_is_named(tmp_path):
    a_record(tmp_path)
    results.path_of("numpy_mlp", "smoke", tmp_path).rename(results.path_of("cnn", "smoke",
                                                                           tmp_path))
    with pytest.raises(RecordError, match="holds the record of numpy_mlp under the smoke "
                                          "profile, not of cnn under smoke"):
        results.load("cnn", "smoke", tmp_path)


def _paths(obj, prefix=()):
    """Every path into ``obj`` (dicts and lists), parents before children."""
    yield prefix
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) \
        if isinstance(obj, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def _load_or_record_error(target, blob):
    """Load ``blob`` as a record: a RecordError naming ``target``, or a record that writes back
    as it reads (so every reader gets only finite numbers of the right types)."""
    target.write_bytes(blob)
    try:
        record = results.load("numpy_mlp", "smoke", target.parent.parent)
    except RecordError as err:
        assert str(target) in str(err)
        return
    assert Record.from_json(record.to_json()) == record


def test_fuzz_truncations_random_bytes_and_wrong_types_give_only_record_errors(tmp_path):
    good = _good_json(tmp_path)
    text = json.dumps(good, indent=1).encode()
    target = results.path_of("numpy_mlp", "smoke", tmp_path)
    target.parent.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for n in range(0, len(text), 7):  # truncated anywhere
        _load_or_record_error(target, text[:n])
    for _ in range(300):  # a few bytes changed, or random bytes
        blob = bytearray(text)
        for i in rng.integers(0, len(blob), rng.integers(1, 4)):
            blob[i] = int(rng.integers(0, 256))
        _load_or_record_error(target, bytes(blob))
        _load_or_record_error(target, rng.bytes(int(rng.integers(0, 200))))
    wrong = (None, True, -1, 2.5, "x", [], {}, [None], {"x": 1}, 10**400)
    for path in list(_paths(good))[1:]:  # every value, at every level, of every wrong type
        for value in wrong:
            _load_or_record_error(target, json.dumps(_set(good, path, value)).encode())
        _load_or_record_error(target, json.dumps(_set(good, path, _DELETE)).encode())


def test_the_reproduction_page_names_every_damaged_record_and_renders_the_rest(tmp_path,
                                                                                monkeypatch):
    """Chapter 09's table over a folder of records with every kind of damage: each damaged
    file is named once, and the good record's rows are still measured."""
    from course_lib import reproduction

    build, recorded = tmp_path / "build", tmp_path / "recorded"
    monkeypatch.setenv(results.ENV_VAR, str(build))
    monkeypatch.setenv(profiles.ENV_VAR, "cpu")
    runs = [Run(s, {"test_accuracy": a, "step": 1500}, {"test_accuracy": a, "step": 1500},
                {"eval": {"step": [1500], "test_accuracy": [a]}}, 1.0,
                info={"learning_rate": 1e-3}) for s, a in enumerate((0.46, 0.47, 0.465))]
    results.make_record(profiles.settings("numpy_mlp", "cpu"), "numpy_mlp", runs, "cpu", 1.0)
    good = json.loads(results.path_of("numpy_mlp", "cpu").read_text())

    def damaged(experiment, profile, folder, change=None, blob=None):
        raw = dict(good, experiment=experiment, settings={"experiment": experiment,
                                                          "profile": profile})
        path = results.path_of(experiment, profile, folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob if blob is not None else json.dumps(change(raw)).encode())
        return path

    broken = [
        damaged("torch_mlp", "cpu", build, lambda r: _set(  # a string accuracy
            r, ("runs", 0, "final", "test_accuracy"), "0.44")),
        damaged("mlp_grid", "cpu", build, blob=bytes(range(256))),  # random bytes
        damaged("mlp_best", "cpu", build, blob=json.dumps(good).replace(  # NaN accuracies
            "0.46", "NaN").replace('"numpy_mlp"', '"mlp_best"').encode()),
        damaged("cnn", "cpu", build, lambda r: _set(r, ("runs",), [])),  # no runs
        damaged("numpy_mlp", "paper", recorded, lambda r: _set(r, ("runs", 0, "seed"), _DELETE)),
        damaged("torch_mlp", "paper", recorded, lambda r: _set(r, ("settings",), [])),
        damaged("cnn", "paper", recorded, blob=json.dumps(good).encode()[:100]),  # truncated
    ]
    rows = reproduction.compare(recorded_dir=recorded)
    errors = reproduction.unreadable(rows)
    for path in broken:
        assert sum(str(path) in e for e in errors) == 1, (path, errors)
    assert len(errors) == len(broken)
    by_key = {r.claim.key: r for r in rows}
    assert by_key["numpy_final"].build.value == [0.46, 0.47, 0.465]
    assert by_key["cnn_mean"].build.missing == by_key["torch_final"].recorded.missing \
        == "unreadable"
    table = reproduction.table(rows)
    assert len(table) == len(reproduction.CLAIMS) and "46.5%" in table.iloc[0].to_string()
    reproduction.provenance(recorded_dir=recorded)
    reproduction.summary(rows)


def test_a_value_json_cannot_hold_is_named_not_raised_raw(tmp_path):
    record = a_record(tmp_path)
    record.info["configs"] = {1, 2}  # a set: not JSON
    with pytest.raises(RecordError, match="not written: TypeError: Object of type set"):
        results.save(record, tmp_path)
