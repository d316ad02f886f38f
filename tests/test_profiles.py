import pytest

from course_lib import profiles


def test_explicit_profiles_and_environment(monkeypatch):
    for name in profiles.PROFILES:
        assert profiles.active_profile(name) == name
    monkeypatch.setenv(profiles.ENV_VAR, "smoke")
    assert profiles.active_profile() == "smoke"
    monkeypatch.setenv(profiles.ENV_VAR, " CPU ")
    assert profiles.active_profile() == "cpu"


def test_auto_follows_the_gpu(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "auto")
    monkeypatch.setattr(profiles, "_cuda_available", lambda: True)
    assert profiles.active_profile() == "paper"
    monkeypatch.setattr(profiles, "_cuda_available", lambda: False)
    assert profiles.active_profile() == "cpu"
    monkeypatch.delenv(profiles.ENV_VAR)
    assert profiles.active_profile() == "cpu"


def test_unknown_profile_is_a_one_line_error_naming_the_valid_ones(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "bogus")
    with pytest.raises(profiles.ProfileError) as err:
        profiles.active_profile()
    message = str(err.value)
    assert "\n" not in message and "bogus" in message
    for name in (*profiles.PROFILES, "auto"):
        assert name in message


def test_paper_profile_is_the_report(monkeypatch):
    s = profiles.settings("numpy_mlp", "paper")
    assert (s["n_hidden"], s["batch_size"], s["learning_rate"], s["steps"], s["init_std"],
            s["eval_every"]) == ([100], 200, 1e-3, 1500, 1e-4, 100)
    g = profiles.settings("mlp_grid", "paper")
    axes = ("first_hidden", "weight_decay", "dropout", "learning_rate")
    n = len(g[axes[0]]) * len(g[axes[1]]) * len(g[axes[2]]) * len(g[axes[3]])
    assert n == 81 and g["steps"] == 4000 and g["halving"] is None
    c = profiles.settings("cnn", "paper")
    assert (c["steps"], c["learning_rate"], c["batch_size"], c["eval_every"], len(c["seeds"])) == \
        (5000, 1e-4, 32, 500, 10)
    assert c["variants"] == ["batch_norm", "no_batch_norm"]


def test_cpu_profile_keeps_the_full_data_and_the_grid():
    for exp in ("numpy_mlp", "torch_mlp", "mlp_grid", "mlp_best", "cnn"):
        s = profiles.settings(exp, "cpu")
        assert s["train_size"] is None and s["test_size"] is None, exp
    g = profiles.settings("mlp_grid", "cpu")
    assert g["halving"][0][1] == 81  # every grid point is trained at least at the first rung


def test_settings_are_copies_and_unknown_experiments_fail():
    a = profiles.settings("cnn", "cpu")
    a["seeds"].append(99)
    assert 99 not in profiles.settings("cnn", "cpu")["seeds"]
    with pytest.raises(profiles.ProfileError):
        profiles.settings("nope", "cpu")


def test_describe_names_profile_and_scale():
    line = profiles.describe("cnn", "cpu")
    assert "cpu" in line and "seeds" in line
    assert profiles.scale_note("numpy_mlp", "paper") == "the report's full scale"
