"""results.recorded, the one runner scaffold: what it does for every runner of the registry."""

import dataclasses

import pytest
from conftest import synthetic_data

from course_lib import profiles, results
from course_lib.profiles import Experiment, ProfileError
from course_lib.results import Run


@dataclasses.dataclass(frozen=True)
class Fake(profiles.Settings):
    steps: int = 3


def trained(settings, data, *needs, device, show_progress):
    """A body that records what the scaffold handed it, in its runs."""
    return [Run(0, {"test_accuracy": 0.5}, {}, {}, 1.0,
                info=dict(n_train=len(data.y_train), n_test=len(data.y_test), device=device,
                          needs=len(needs), progress=show_progress))], dict(answer=42)


@pytest.fixture
def registered(monkeypatch, tmp_path):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    monkeypatch.setitem(profiles.EXPERIMENTS, "fake",
                        Experiment("fake", Fake, "00_fake", f"{__name__}:trained"))
    monkeypatch.setitem(profiles.OVERRIDES["smoke"], "fake", dict(train_size=50, test_size=20))
    return results.recorded(trained)


def test_the_scaffold_names_subsets_times_and_records(registered, tmp_path):
    data = dataclasses.replace(synthetic_data(), fingerprint={"kind": "official", "hash": "ab"})
    record = registered(profiles.settings("fake", "smoke"), data, "other", show_progress=False)
    info = record.runs[0].info
    assert (record.experiment, record.profile, record.info) == ("fake", "smoke", {"answer": 42})
    assert (info["n_train"], info["n_test"], info["needs"], info["progress"]) == (50, 20, 1, False)
    # the device is resolved before the body runs: never None, never the string "None"
    assert info["device"] == record.device == profiles.default_device()
    assert record.data_label == "official (ab)" and record.wall_time >= 0
    assert results.load("fake", "smoke", tmp_path).data == record.data


def test_a_fixed_device_wins_and_a_given_one_is_kept(registered, monkeypatch):
    settings, data = profiles.settings("fake", "smoke"), synthetic_data()
    assert registered(settings, data, device="cuda:1").device == "cuda:1"
    cpu_only = results.recorded(trained, device="cpu")
    assert cpu_only(settings, data, device="cuda").device == "cpu"


def test_wrong_settings_and_unregistered_runners_are_refused(registered):
    with pytest.raises(ProfileError, match="fake takes Fake settings, not NumpyMLP"):
        registered(profiles.settings("numpy_mlp", "smoke"), synthetic_data())

    def unknown(settings, data, *, device, show_progress):
        return []
    with pytest.raises(ProfileError, match="no experiment .* has the runner"):
        results.recorded(unknown)(profiles.settings("fake", "smoke"), synthetic_data())


def test_every_runner_of_the_registry_is_built_by_the_scaffold():
    for name, experiment in profiles.EXPERIMENTS.items():
        module, function = experiment.runner.split(":")
        runner = getattr(__import__(f"course_lib.{module}", fromlist=[function]), function)
        assert results._registered(runner.__wrapped__) is experiment, name
