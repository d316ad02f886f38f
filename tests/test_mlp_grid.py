"""Tests of course_lib.mlp_grid: stacked models, stacked Adam, the grid and its selections."""

import pytest
import torch
import torch.nn.functional as F
from conftest import synthetic_data

from course_lib import profiles, results
from course_lib.data import BatchSampler, flatten
from course_lib.mlp_grid import (
    Stack,
    StackedAdam,
    StackedMLP,
    best_settings,
    check_rungs,
    grid_configs,
    run_best,
    run_grid,
    train_grid,
    train_step,
)
from course_lib.torch_mlp import make_mlp

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
GRID = dict(first_hidden=[12, 20], second_hidden=8, weight_decay=[0.1, 0.001],
            dropout=[0.0], learning_rate=[1e-3, 1e-2], batch_size=40, steps=30,
            eval_every=10, validation_size=100, seed=0, halving=None)


def double_models(seeds, dropout=0.0, sizes=(48, [12, 8], 10)):
    return [make_mlp(*sizes, seed=s, dropout=dropout).double() for s in seeds]


def test_grid_configs_table_1():
    configs = grid_configs(profiles.settings("mlp_grid", "paper"))
    assert len(configs) == 81
    assert len({tuple(c.values()) for c in configs}) == 81
    assert configs[0] == dict(first_hidden=400, weight_decay=0.1, dropout=0.1,
                              learning_rate=1e-3)


def test_stacked_forward_equals_each_model():
    models = double_models([0, 1, 2])
    stack = StackedMLP.stack(models)
    x = torch.randn(5, 48, dtype=torch.float64)
    out = stack.forward(x)
    assert out.shape == (3, 5, 10)
    for k, m in enumerate(models):
        torch.testing.assert_close(out[k], m.eval()(x), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(stack.unstack(k).eval()(x), m(x))


def test_stacked_dropout_masks():
    models = double_models([0, 0, 0], sizes=(48, [12, 3000], 10))
    for m, p in zip(models, (0.0, 0.2, 0.5)):
        m.dropout.p = p
    stack = StackedMLP.stack(models)
    x = torch.randn(4, 48, dtype=torch.float64)
    u = torch.rand(4, 3000, dtype=torch.float64)
    # the last hidden layer's output, computed by hand, with and without the masks
    h = x
    for w, b in zip(stack.weights[:-1], stack.biases[:-1]):
        h = torch.relu(torch.baddbmm(b.unsqueeze(1), h.expand(3, *h.shape) if h.dim() == 2
                                     else h, w.transpose(1, 2)))
    w, b = stack.weights[-1], stack.biases[-1]
    for k, p in enumerate((0.0, 0.2, 0.5)):
        dropped = h[k] * (u >= p) / (1 - p)
        torch.testing.assert_close(stack.forward(x, u)[k], dropped @ w[k].T + b[k])
        frac = ((u >= p) & (h[k] > 0)).sum() / (h[k] > 0).sum()
        assert abs(float(frac) - (1 - p)) < 0.03
    # nested masks: a unit dropped at rate 0.2 is also dropped at rate 0.5 (common numbers)
    assert bool(((u < 0.2) <= (u < 0.5)).all())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_stacked_adam_equals_torch_adam(dtype, tol, device):
    gen = torch.Generator().manual_seed(0)
    lrs, wds = [1e-3, 5e-4, 1e-2], [0.1, 0.0, 0.001]
    shapes = [(3, 6, 5), (3, 6)]
    params = [torch.randn(s, generator=gen, dtype=dtype).to(device).requires_grad_(True)
              for s in shapes]
    singles = [[p[k].detach().clone().requires_grad_(True) for p in params] for k in range(3)]
    stacked = StackedAdam(params, lrs, wds)
    torch_opts = [torch.optim.Adam(ps, lr=lr, weight_decay=wd)
                  for ps, lr, wd in zip(singles, lrs, wds)]
    for _ in range(25):
        grads = [torch.randn(s, generator=gen, dtype=dtype).to(device) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        stacked.step()
        for k, opt in enumerate(torch_opts):
            for p, g in zip(singles[k], grads):
                p.grad = g[k].clone()
            opt.step()
    for k in range(3):
        for p, q in zip(params, singles[k]):
            torch.testing.assert_close(p[k].detach(), q.detach(), rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="one value per model"):
        StackedAdam(params, [1e-3], wds)


@pytest.mark.parametrize("device", DEVICES)
def test_stacked_training_equals_one_model_at_a_time(device):
    """Stacked forward/backward/Adam == nn.Module + torch.optim.Adam, same init and batches."""
    data = synthetic_data()
    x = torch.from_numpy(flatten(data.x_train)).double().to(device)
    y = torch.from_numpy(data.y_train).to(device)
    lrs, wds = [1e-3, 1e-2, 3e-4], [0.1, 0.01, 0.0]
    models = [m.to(device) for m in double_models([0, 1, 2])]  # dropout 0: no masks to share
    stack = StackedMLP.stack(models)
    stack = Stack([0, 1, 2], stack, StackedAdam(stack.parameters(), lrs, wds))
    opts = [torch.optim.Adam(m.parameters(), lr=lr, weight_decay=wd)
            for m, lr, wd in zip(models, lrs, wds)]
    sampler = BatchSampler(len(y), 50, seed=0)
    for _ in range(20):
        idx = torch.from_numpy(sampler.next_indices()).to(device)
        losses, _ = train_step(stack, x[idx], y[idx], None)
        for k, (m, opt) in enumerate(zip(models, opts)):
            m.train()
            loss = F.cross_entropy(m(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            assert losses[k].item() == pytest.approx(loss.item(), rel=1e-9)
    for k, m in enumerate(models):
        for w, lin in zip(stack.model.weights, m.linears):
            torch.testing.assert_close(w[k].detach(), lin.weight.detach(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
def test_train_grid_equals_single_model_training(device):
    """The whole grid trainer (float32) against one configuration trained alone (on the CPU)."""
    data = synthetic_data()
    out = train_grid(data, GRID, device=device, show_progress=False)
    assert len(out["runs"]) == 8 and all(r["steps_trained"] == 30 for r in out["runs"])
    run = out["runs"][5]
    config = run["config"]
    train, (x_val, y_val) = data.split_validation(GRID["validation_size"], seed=0)
    x, y = torch.from_numpy(flatten(train.x_train)), torch.from_numpy(train.y_train)
    model = make_mlp(48, [config["first_hidden"], 8], 10, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=config["learning_rate"],
                           weight_decay=config["weight_decay"])
    sampler = BatchSampler(len(y), GRID["batch_size"], seed=0)
    for _ in range(30):
        idx = torch.from_numpy(sampler.next_indices())
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        logits = model(torch.from_numpy(flatten(x_val)))
        val_loss = F.cross_entropy(logits, torch.from_numpy(y_val)).item()
        val_acc = (logits.argmax(1).numpy() == y_val).mean()
    assert run["final"]["validation_loss"] == pytest.approx(val_loss, rel=1e-4)
    assert run["final"]["validation_accuracy"] == pytest.approx(val_acc, abs=0.011)


def test_successive_halving_and_selections():
    data = synthetic_data()
    settings = dict(GRID, dropout=[0.0, 0.5], halving=[(10, 16), (20, 6), (30, 2)],
                    eval_every=None)
    out = train_grid(data, settings, device="cpu", show_progress=False)
    runs = out["runs"]
    steps = sorted(r["steps_trained"] for r in runs)
    assert steps == [10] * 10 + [20] * 4 + [30] * 2
    # the survivors of rung 1 are the 6 best on validation accuracy at step 10
    at10 = {r["index"]: r["curves"]["eval"]["validation_accuracy"][0] for r in runs}
    survivors = {r["index"] for r in runs if r["steps_trained"] > 10}
    assert min(at10[i] for i in survivors) >= max(at10[i] for i in at10 if i not in survivors)
    # test accuracy is only measured at the end of the last rung
    for r in runs:
        assert (r["final"]["test_accuracy"] is None) == (r["steps_trained"] < 30)
    finalists = [r for r in runs if r["steps_trained"] == 30]
    assert out["selected_by_validation"]["validation_accuracy"] == max(
        r["final"]["validation_accuracy"] for r in finalists)
    assert out["selected_by_test"]["test_accuracy"] == max(
        r["final"]["test_accuracy"] for r in finalists)
    assert len(out["rung_times"]) == 3


def test_check_rungs_rejects_bad_schedules():
    assert check_rungs([[10, 4], [20, 2]], 4) == [(10, 4), (20, 2)]
    with pytest.raises(ValueError, match="first rung"):
        check_rungs([(10, 3)], 4)
    with pytest.raises(ValueError, match="increasing"):
        check_rungs([(10, 4), (10, 2)], 4)
    with pytest.raises(ValueError, match="increasing"):
        check_rungs([(10, 4), (20, 5)], 4)


def test_run_grid_and_run_best_record(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    data = synthetic_data(n_train=1000)
    grid = run_grid(data, profile="smoke", device="cpu", show_progress=False)
    assert (tmp_path / "smoke" / "mlp_grid.json").is_file()
    assert len(grid["runs"]) == len(grid_configs(profiles.settings("mlp_grid", "smoke")))
    assert grid["common_random_numbers"] is True
    config = grid["selected_by_validation"]["config"]
    best = run_best(data, config, profile="smoke", device="cpu", show_progress=False)
    assert (tmp_path / "smoke" / "mlp_best.json").is_file()
    assert best["config"] == config
    assert best["runs"][0]["optimizer"] == "adam"
    s = best_settings(config, "smoke")
    assert s["n_hidden"] == [config["first_hidden"], 40] and s["dropout"] == config["dropout"]
