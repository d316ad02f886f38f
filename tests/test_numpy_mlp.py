"""The whole NumPy MLP: gradients of every parameter, SGD, training and the experiment record."""

import json

import numpy as np
import pytest

from course_lib import profiles
from course_lib.data import CIFAR10, DataError, ensure_cifar10, flatten, load_cifar10, one_hot
from course_lib.gradcheck import numerical_gradient, relative_error
from course_lib.numpy_mlp import (
    MLP,
    accuracy_at,
    evaluate,
    run_experiment,
    sgd_step,
    train_numpy_mlp,
    train_step,
)
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
    s = profiles.settings("numpy_mlp", "paper")
    s.update(steps=60, eval_every=20, seeds=[0, 1], compare_learning_rates=[1e-3, 2e-3],
             train_size=None, test_size=None)
    s.update(changes)
    return s


def test_short_training_beats_chance_on_synthetic_data():
    data = blobs()
    run = train_numpy_mlp(data, small_settings(), seed=0, show_progress=False)
    assert run["final"]["test_accuracy"] > 0.5  # chance is 0.1
    assert run["curves"]["train"]["loss"][-1] < run["curves"]["train"]["loss"][0]
    assert run["curves"]["eval"]["step"] == [20, 40, 60]
    assert run["best"]["step"] in (20, 40, 60)
    again = train_numpy_mlp(data, small_settings(), seed=0, show_progress=False)
    assert again["curves"]["eval"] == run["curves"]["eval"]  # seeded: identical


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
    assert run["final"]["test_accuracy"] > 0.2  # chance is 0.1; about 0.3 after 200 steps
    loss, acc = evaluate(MLP(3072, [100], 10, seed=0), flatten(cifar_subset.x_test),
                         cifar_subset.y_test)
    assert loss == pytest.approx(np.log(10), rel=1e-3) and acc < 0.2  # untrained: uniform


def test_run_experiment_records_both_parts(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RESULTS", str(tmp_path))
    settings = small_settings(steps=40, eval_every=20)
    out = run_experiment(blobs(), profile="smoke", settings=settings, show_progress=False)
    main, lr = out["main"], out["lr"]
    assert main["experiment"] == "numpy_mlp" and lr["experiment"] == "numpy_mlp_lr"
    assert [r["seed"] for r in main["runs"]] == [0, 1]
    assert [r["learning_rate"] for r in lr["runs"]] == [1e-3, 2e-3]
    for run in main["runs"] + lr["runs"]:
        assert {"seed", "learning_rate", "final", "best", "curves", "wall_time"} <= set(run)
        assert 0 <= run["final"]["test_accuracy"] <= 1
    assert lr["runs"][0]["curves"] == main["runs"][0]["curves"]  # seed 0 at 1e-3 is reused
    assert "test_accuracy_at_step_1000" not in main  # step 1000 is not evaluated here
    saved = json.loads((tmp_path / "smoke" / "numpy_mlp.json").read_text())
    assert saved["runs"][1]["final"] == main["runs"][1]["final"]
    assert (tmp_path / "smoke" / "numpy_mlp_lr.json").is_file()


def test_run_experiment_records_step_1000(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RESULTS", str(tmp_path))
    settings = small_settings(steps=1000, eval_every=500, seeds=[0],
                              compare_learning_rates=[1e-3], batch_size=20)
    data = blobs(n_train=200, n_test=50)
    out = run_experiment(data, profile="smoke", settings=settings, show_progress=False)
    at_1000 = out["main"]["test_accuracy_at_step_1000"]
    assert at_1000 == {"0": accuracy_at(out["main"]["runs"][0], 1000)}
    assert accuracy_at(out["main"]["runs"][0], 999) is None
