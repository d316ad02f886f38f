"""Tests of course_lib.torch_mlp: the PyTorch MLP, its initialisations and training loops."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from conftest import synthetic_data

from course_lib import profiles, results, torch_mlp
from course_lib.data import one_hot
from course_lib.numpy_mlp import fused_train_step
from course_lib.numpy_modules import cross_entropy, cross_entropy_backward
from course_lib.torch_mlp import (
    DEMO_VARIANTS,
    TorchMLP,
    make_mlp,
    numpy_mlp_from_torch,
    train_numpy_mlp_from_torch,
    train_torch_mlp,
)

SETTINGS = profiles.make(profiles.TorchMLP, profile="smoke", n_hidden=(16,), batch_size=50,
                         learning_rate=1e-3, steps=30, eval_every=10, train_avg=5,
                         init_std=1e-4, train_size=None, test_size=None)


def test_shapes_and_bad_inputs():
    model = TorchMLP(48, [32, 16], 10)
    assert model(torch.zeros(7, 48)).shape == (7, 10)
    assert TorchMLP(48, [], 10)(torch.zeros(3, 48)).shape == (3, 10)  # softmax regression
    with pytest.raises(ValueError, match="expected input"):
        model(torch.zeros(7, 3, 4, 4))
    with pytest.raises(ValueError, match="init"):
        TorchMLP(48, [16], 10, init="he")
    with pytest.raises(ValueError, match="dropout"):
        TorchMLP(48, [16], 10, dropout=1.0)


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    model = TorchMLP(48, [64, 2000], 10, dropout=0.5)
    x = torch.randn(8, 48)
    hidden = {}
    model.dropout.register_forward_hook(lambda m, i, o: hidden.update(inp=i[0], out=o))
    model.train()
    a, b = model(x), model(x)
    assert not torch.allclose(a, b)  # a new mask each call
    kept = hidden["out"] != 0
    active = hidden["inp"] != 0
    frac = (kept & active).sum() / active.sum()
    assert abs(float(frac) - 0.5) < 0.03
    # kept units are scaled by 1 / (1 - p)
    torch.testing.assert_close(hidden["out"][kept], 2 * hidden["inp"][kept])
    model.eval()
    c, d = model(x), model(x)
    torch.testing.assert_close(c, d)
    torch.testing.assert_close(hidden["out"], hidden["inp"])


def test_pytorch_default_init_is_uniform_not_he():
    model = make_mlp(3072, [100], 10, seed=0, init="pytorch")
    w = model.linears[0].weight.detach().double()
    bound = 1 / math.sqrt(3072)
    assert w.abs().max() <= bound
    assert abs(w.std().item() / (bound / math.sqrt(3)) - 1) < 0.01  # std 1/sqrt(3 fan_in)
    he_std = math.sqrt(2 / 3072)
    assert w.std().item() < 0.5 * he_std  # He's normal init would be 2.45x wider
    b = model.linears[0].bias.detach()
    assert b.abs().max() <= bound and b.std() > 0.3 * bound


def test_normal_init_statistics():
    model = make_mlp(3072, [100], 10, seed=0, init="normal", init_std=1e-4)
    w = model.linears[0].weight.detach().double()
    assert abs(w.std().item() / 1e-4 - 1) < 0.01
    assert abs(w.mean().item()) < 1e-4 * 5 / math.sqrt(w.numel())
    for linear in model.linears:
        assert torch.count_nonzero(linear.bias) == 0


def test_make_mlp_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = make_mlp(48, [16], 10, seed=5)
    b = make_mlp(48, [16], 10, seed=5)
    c = make_mlp(48, [16], 10, seed=6)
    torch.testing.assert_close(torch.rand(3), expected)
    torch.testing.assert_close(a.linears[0].weight, b.linears[0].weight)
    assert not torch.equal(a.linears[0].weight, c.linears[0].weight)


def test_numpy_twin_computes_the_same_function():
    model = make_mlp(48, [16, 8], 10, seed=0)
    twin = numpy_mlp_from_torch(model)
    x = np.random.default_rng(0).standard_normal((5, 48)).astype(np.float32)
    probs = torch.softmax(model(torch.from_numpy(x)), 1).detach().numpy()
    np.testing.assert_allclose(twin.forward(x), probs, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="dropout"):
        numpy_mlp_from_torch(make_mlp(48, [16], 10, seed=0, dropout=0.1))


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("init", ["pytorch", "normal"])
def test_torch_and_numpy_training_agree(init, device):
    """Same seed: same initial weights, same batches, same SGD -> the same curves."""
    data = synthetic_data()
    settings = dataclasses.replace(SETTINGS, learning_rate=1e-4 if init == "pytorch" else 1e-3)
    a = train_torch_mlp(data, settings, seed=3, init=init, device=device, show_progress=False)
    b = train_numpy_mlp_from_torch(data, settings, seed=3, init=init, show_progress=False)
    assert a.seed == b.seed == 3
    assert a.info["framework"] == "pytorch" and b.info["framework"] == "numpy"
    assert a.info["init"] == b.info["init"] == init
    assert a.curves["eval"]["step"] == [10, 20, 30]
    assert a.curves["train"]["step"] == list(range(5, 31, 5))
    np.testing.assert_allclose(a.curves["train"]["loss"], b.curves["train"]["loss"], rtol=1e-3)
    np.testing.assert_allclose(a.curves["eval"]["test_loss"], b.curves["eval"]["test_loss"],
                               rtol=1e-3)
    assert a.final["test_accuracy"] == pytest.approx(b.final["test_accuracy"], abs=0.02)
    assert a.curves["train"]["loss"][-1] < a.curves["train"]["loss"][0]  # it learns


def test_train_torch_mlp_is_reproducible_and_validates_optimizer():
    data = synthetic_data()
    overrides = dict(n_hidden=[16, 8], dropout=0.3, weight_decay=0.01)
    a = train_torch_mlp(data, SETTINGS, seed=1, optimizer="adam", device="cpu",
                        show_progress=False, **overrides)
    b = train_torch_mlp(data, SETTINGS, seed=1, optimizer="adam", device="cpu",
                        show_progress=False, **overrides)
    assert a.curves == b.curves
    assert a.info["optimizer"] == "adam" and a.info["device"] == "cpu"
    assert 0 <= a.best["test_accuracy"] <= 1 and a.best["step"] in (10, 20, 30)
    with pytest.raises(ValueError, match="optimizer"):
        train_torch_mlp(data, SETTINGS, seed=1, optimizer="rmsprop", device="cpu",
                        show_progress=False, **overrides)


def test_run_records_the_initialisation_ablation(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    settings = profiles.settings("torch_mlp", "smoke")
    record = torch_mlp.run(settings, synthetic_data(), device="cpu", show_progress=False)
    assert record.experiment == "torch_mlp" and record.settings == settings
    assert record.profile == "smoke" and record.device == "cpu"
    variants = [f"{f}/{i}" for f in ("pytorch", "numpy") for i in ("pytorch", "normal")]
    assert [r.variant for r in record.runs] == [v for v in variants for _ in settings.seeds]
    for run in record.runs:
        assert run.variant == f"{run.info['framework']}/{run.info['init']}"
        assert run.info["optimizer"] == "sgd"
        assert 0 <= run.final["test_accuracy"] <= 1 and run.final["step"] == settings.steps
    # the report's PyTorch MLP is one variant, every seed
    assert [r.seed for r in record.select(variant="pytorch/pytorch")] == list(settings.seeds)
    assert record.finals(variant="numpy/normal").shape == (len(settings.seeds),)
    # within a seed both frameworks start from the same weights and see the same batches
    for seed in settings.seeds:
        (a,) = [r for r in record.select(variant="pytorch/normal") if r.seed == seed]
        (b,) = [r for r in record.select(variant="numpy/normal") if r.seed == seed]
        np.testing.assert_allclose(a.curves["train"]["loss"], b.curves["train"]["loss"],
                                   rtol=1e-3)
    # one record holds the whole ablation, and reads back as returned
    assert sorted(p.name for p in (tmp_path / "smoke").iterdir()) == ["torch_mlp.json"]
    saved = results.load("torch_mlp", "smoke", tmp_path)
    assert saved.runs == record.runs and saved.settings == settings


def test_run_batchnorm_demo_records_every_variant(tmp_path, monkeypatch):
    """The demo MLP once per BatchNorm implementation, from the same weights on the same
    batches: the runs differ only by rounding."""
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    settings = dataclasses.replace(profiles.settings("batchnorm_demo", "smoke"), n_hidden=(16,),
                                   batch_size=32, learning_rate=1e-2, steps=20, eval_every=10,
                                   train_avg=5)
    record = torch_mlp.run_batchnorm_demo(settings, synthetic_data(n_train=256, n_test=64),
                                          device="cpu", show_progress=False)
    assert record.experiment == "batchnorm_demo" and record.profile == "smoke"
    assert [r.variant for r in record.runs] == list(DEMO_VARIANTS)
    for run in record.runs:
        assert run.seed == settings.seed
        assert 0 <= run.final["test_accuracy"] <= 1 and "step" in run.best
        assert run.curves["eval"]["step"] == [10, 20]
    first, *others = record.runs
    assert first.curves["train"]["loss"][-1] < first.curves["train"]["loss"][0]  # it learns
    for other in others:
        np.testing.assert_allclose(other.curves["train"]["loss"], first.curves["train"]["loss"],
                                   rtol=1e-4)
        np.testing.assert_allclose(other.curves["eval"]["test_loss"],
                                   first.curves["eval"]["test_loss"], rtol=1e-4)
    saved = results.load("batchnorm_demo", "smoke", tmp_path)
    assert saved.runs == record.runs and saved.settings == settings


def test_fused_numpy_step_equals_the_reports_chain_and_stays_finite():
    rng = np.random.default_rng(0)
    x = (60 * rng.standard_normal((32, 48))).astype(np.float32)
    targets = one_hot(rng.integers(0, 10, 32), dtype=np.float32)
    small = numpy_mlp_from_torch(make_mlp(48, [16], 10, seed=0, init="normal", init_std=1e-2))
    small.backward(cross_entropy_backward(small.forward(x), targets))
    chain = [layer.grads["weight"].copy() for layer in small.linear_layers]
    fused_train_step(small, x, targets, learning_rate=0.0)
    for g, layer in zip(chain, small.linear_layers):
        np.testing.assert_allclose(layer.grads["weight"], g, rtol=1e-4, atol=1e-6)
    # PyTorch's init on raw pixels: some target probabilities underflow to 0 in float32
    x = (300 * rng.standard_normal((200, 48))).astype(np.float32)
    targets = one_hot(rng.integers(0, 10, 200), dtype=np.float32)
    big = numpy_mlp_from_torch(make_mlp(48, [100], 10, seed=0, init="pytorch"))
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf, then 0 * -inf = NaN
        assert not np.isfinite(cross_entropy(big.forward(x), targets))
    loss, _ = fused_train_step(big, x, targets, learning_rate=1e-3)
    assert np.isfinite(loss)
    assert all(np.isfinite(layer.params["weight"]).all() for layer in big.linear_layers)


def test_only_model_and_optimiser_settings_can_be_overridden():
    with pytest.raises(ValueError, match=r"not \['dropuot', 'steps'\]"):
        train_torch_mlp(synthetic_data(), SETTINGS, device="cpu", show_progress=False,
                        steps=10, dropuot=0.5)
