"""The whole NumPy MLP: gradients of every parameter, SGD, training and the experiment record."""

import numpy as np
import pytest
from conftest import synthetic_data

from course_lib import numpy_mlp, profiles, results
from course_lib.data import CIFAR10, DataError, ensure_cifar10, flatten, load_cifar10, one_hot
from course_lib.gradcheck import numerical_gradient, relative_error
from course_lib.numpy_mlp import MLP, evaluate, sgd_step, train_numpy_mlp, train_step
from course_lib.numpy_modules import CrossEntropyModule


def loss_of(model, x, t):
    return CrossEntropyModule().forward(model.forward(x), t)


@pytest.mark.parametrize("n_hidden", [[], [6], [7, 5]])
@pytest.mark.parametrize("seed", [0, 1])
def test_whole_mlp_gradient(n_hidden, seed):
    rng = np.random.default_rng(seed)
    model = MLP(8, n_hidden, 4, init_std=0.7, seed=seed, dtype=np.float64)
    for layer in model.linear_layers:
        layer.params["bias"][:] = 0.1 * rng.standard_normal(layer.params["bias"].shape)
    x = rng.standard_normal((5, 8))
    t = one_hot(rng.integers(0, 4, 5), 4, dtype=np.float64)
    loss_fn = CrossEntropyModule()

    probs = model.forward(x)
    dx = model.backward(loss_fn.backward(probs, t))

    assert relative_error(dx, numerical_gradient(lambda v: loss_of(model, v, t), x)) < 1e-7
    for i, layer in enumerate(model.linear_layers):
        for name, p in layer.params.items():
            num = numerical_gradient(lambda _: loss_of(model, x, t), p)
            assert relative_error(layer.grads[name], num) < 1e-7, (i, name)


def test_mlp_dtype_and_shapes():
    model = MLP(12, [5, 4], 3, seed=0)
    assert [layer.params["weight"].shape for layer in model.linear_layers] == \
        [(5, 12), (4, 5), (3, 4)]
    x = np.random.default_rng(0).standard_normal((6, 12)).astype(np.float32)
    probs = model.forward(x)
    assert probs.dtype == np.float32 and probs.shape == (6, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    model64 = MLP(12, [5], 3, seed=0, dtype=np.float64)
    assert all(p.dtype == np.float64 for layer in model64.linear_layers
               for p in layer.params.values())
    with pytest.raises(ValueError, match="flattened"):
        model.forward(np.zeros((2, 3, 2, 2), dtype=np.float32))


def test_mlp_init_is_seeded_with_the_reports_scale():
    a, b = MLP(300, [100], 10, seed=3), MLP(300, [100], 10, seed=3)
    w = a.linear_layers[0].params["weight"]
    np.testing.assert_array_equal(w, b.linear_layers[0].params["weight"])
    assert 0.8e-4 < w.std() < 1.2e-4  # N(0, 1e-4^2), as in the report
    assert not np.array_equal(w, MLP(300, [100], 10, seed=4).linear_layers[0].params["weight"])


def test_sgd_step_and_train_step():
    rng = np.random.default_rng(0)
    model = MLP(6, [5], 3, init_std=0.5, seed=0, dtype=np.float64)
    x, t = rng.standard_normal((4, 6)), one_hot(rng.integers(0, 3, 4), 3, dtype=np.float64)
    before = [p.copy() for layer in model.linear_layers for p in layer.params.values()]
    model.backward(CrossEntropyModule().backward(model.forward(x), t))
    grads = [g.copy() for layer in model.linear_layers for g in layer.grads.values()]
    sgd_step(model, 0.1)
    after = [p for layer in model.linear_layers for p in layer.params.values()]
    for p0, g, p1 in zip(before, grads, after):
        np.testing.assert_allclose(p1, p0 - 0.1 * g)

    # train_step = forward, loss, backward, the same update; the loss goes down on one batch.
    losses = [train_step(model, x, t, 0.1)[0] for _ in range(20)]
    assert losses[-1] < losses[0]


def blobs(n_train=600, n_test=300, seed=0, spread=30.0):
    """A synthetic CIFAR10-shaped data set: 10 Gaussian blobs in image space."""
    rng = np.random.default_rng(seed)
    centres = spread * rng.standard_normal((10, 3, 32, 32)).astype(np.float32)

    def draw(n):
        y = rng.integers(0, 10, n)
        x = centres[y] + 60 * rng.standard_normal((n, 3, 32, 32)).astype(np.float32)
        return x, y.astype(np.int64)

    (x_tr, y_tr), (x_te, y_te) = draw(n_train), draw(n_test)
    return CIFAR10(x_tr, y_tr, x_te, y_te, [f"c{i}" for i in range(10)],
                   np.zeros((3, 32, 32), np.float32))


def small_settings(**changes):
    """The report's NumPy MLP, shortened; all the data given (recorded as ``smoke``)."""
    fields = dict(profile="smoke", steps=60, eval_every=20, seeds=(0, 1),
                  compare_learning_rates=(1e-3, 2e-3), train_size=None, test_size=None)
    return profiles.make(profiles.NumpyMLP, **{**fields, **changes})


def test_short_training_beats_chance_on_synthetic_data():
    data = blobs()
    run = train_numpy_mlp(data, small_settings(), seed=0, show_progress=False)
    assert isinstance(run, results.Run) and run.seed == 0
    assert run.info["learning_rate"] == 1e-3
    assert run.final["test_accuracy"] > 0.5  # chance is 0.1
    assert run.curves["train"]["loss"][-1] < run.curves["train"]["loss"][0]
    assert run.curves["eval"]["step"] == [20, 40, 60]
    assert run.best["step"] in (20, 40, 60)
    again = train_numpy_mlp(data, small_settings(), seed=0, show_progress=False)
    assert again.curves["eval"] == run.curves["eval"]  # seeded: identical


@pytest.fixture(scope="module")
def cifar_subset():
    try:
        ensure_cifar10(download_if_missing=False)
    except DataError:
        pytest.skip("CIFAR-10 is not downloaded")
    return load_cifar10(train_size=5000, test_size=1000)


def test_short_training_beats_chance_on_cifar10(cifar_subset):
    run = train_numpy_mlp(cifar_subset, small_settings(steps=200, eval_every=100), seed=0,
                          show_progress=False)
    assert run.final["test_accuracy"] > 0.2  # chance is 0.1; about 0.3 after 200 steps
    loss, acc = evaluate(MLP(3072, [100], 10, seed=0), flatten(cifar_subset.x_test),
                         cifar_subset.y_test)
    assert loss == pytest.approx(np.log(10), rel=1e-3) and acc < 0.2  # untrained: uniform


def test_run_records_every_seed_and_every_learning_rate(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    settings = small_settings(steps=40, eval_every=20)
    record = numpy_mlp.run(settings, blobs(), show_progress=False)
    assert record.experiment == "numpy_mlp" and record.settings == settings
    assert record.profile == "smoke" and record.device == "cpu"
    # every seed at settings.learning_rate, then every seed at the other rate (compared over
    # the same seeds); no rate is trained twice
    assert [(r.seed, r.info["learning_rate"]) for r in record.runs] == [
        (0, 1e-3), (1, 1e-3), (0, 2e-3), (1, 2e-3)]
    assert [r.seed for r in record.select(learning_rate=1e-3)] == [0, 1]
    assert [r.seed for r in record.select(learning_rate=2e-3)] == [0, 1]
    assert record.finals(learning_rate=1e-3).shape == (2,)
    for run in record.runs:
        assert 0 <= run.final["test_accuracy"] <= 1 and run.final["step"] == 40
        assert run.curves["eval"]["step"] == [20, 40] and run.wall_time > 0
        assert run.at(1000) is None  # step 1000 is not evaluated here
    a, b = record.select(learning_rate=1e-3)[0], record.select(learning_rate=2e-3)[0]
    assert a.curves != b.curves  # the rate changes the training
    # one record, written where COURSE_RESULTS says, that reads back as returned
    assert sorted(p.name for p in (tmp_path / "smoke").iterdir()) == ["numpy_mlp.json"]
    saved = results.load("numpy_mlp", "smoke", tmp_path)
    assert saved.runs == record.runs and saved.settings == settings
    assert saved.experiment == "numpy_mlp"


def test_run_reads_the_accuracy_at_step_1000(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    settings = small_settings(steps=1000, eval_every=500, seeds=(0,),
                              compare_learning_rates=(1e-3,), batch_size=20)
    data = synthetic_data(n_train=200, n_test=50)  # 48 inputs: 1,000 steps take a moment
    record = numpy_mlp.run(settings, data, show_progress=False)
    (run,) = record.runs
    ev = run.curves["eval"]
    assert ev["step"] == [500, 1000]
    assert run.at(1000) == ev["test_accuracy"][1] == run.final["test_accuracy"]
    assert run.at(500) == ev["test_accuracy"][0]
    assert run.at(500, "test_loss") == ev["test_loss"][0]
    assert run.at(999) is None
    assert results.load("numpy_mlp", "smoke", tmp_path).runs[0].at(1000) == run.at(1000)
