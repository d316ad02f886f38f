import json

import pytest

from course_lib import results
from course_lib.training import Curves, eval_steps, summarize


def test_record_and_load_round_trip(monkeypatch, tmp_path):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    import numpy as np

    run = {"seed": 0, "final": {"test_accuracy": np.float32(0.5)}, "curves": {"x": np.arange(3)}}
    path = results.record("demo", "smoke", {"steps": 3}, [run], device="cpu", wall_time=1.5,
                          note="hi")
    assert path == tmp_path / "smoke" / "demo.json"
    rec = results.load("demo", "smoke")
    assert rec["runs"][0]["final"]["test_accuracy"] == pytest.approx(0.5)
    assert rec["runs"][0]["curves"]["x"] == [0, 1, 2]
    assert rec["note"] == "hi" and rec["device"] == "cpu" and rec["settings"] == {"steps": 3}
    for key in ("versions", "date", "commit", "wall_time", "profile", "experiment"):
        assert key in rec
    assert "numpy" in rec["versions"]
    assert json.loads(path.read_text()) == rec
    assert results.load("absent", "smoke") is None


def test_runs_need_seed_and_final(tmp_path):
    with pytest.raises(ValueError):
        results.record("demo", "smoke", {}, [{"seed": 1}], "cpu", 0.0, directory=tmp_path)


def test_curves_average_training_values_and_summarize():
    c = Curves(train_avg=2)
    for step in range(1, 7):
        c.add_train(step, loss=float(step), accuracy=step / 10)
        if step in eval_steps(6, 3):
            c.add_eval(step, test_loss=1.0 / step, test_accuracy=[0, 0, 0.4, 0, 0, 0.3][step - 1])
    d = c.as_dict()
    assert d["train"]["step"] == [2, 4, 6] and d["train"]["loss"] == [1.5, 3.5, 5.5]
    assert d["eval"]["step"] == [3, 6]
    final, best = summarize(d)
    assert final["test_accuracy"] == 0.3 and final["step"] == 6 and final["train_loss"] == 5.5
    assert best == {"test_accuracy": 0.4, "step": 3}
    assert eval_steps(10, 4) == {4, 8, 10}
