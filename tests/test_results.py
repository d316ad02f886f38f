"""Records: typed round trip, schema, damaged and foreign files, unwritable folders, races."""

import json
import multiprocessing
import os
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
    record.runs[0].curves["train"]["loss"] = list(np.linspace(0, 1, 30_000))  # slow writes
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
