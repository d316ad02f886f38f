"""Tests of course_lib.mlp_grid: stacked models, stacked Adam, the grid and its selections."""

import dataclasses
import inspect

import pytest
import torch
import torch.nn.functional as F
from conftest import synthetic_data

from course_lib import mlp_grid, profiles, results
from course_lib.data import BatchSampler, flatten
from course_lib.mlp_grid import (
    Stack,
    StackedAdam,
    StackedMLP,
    check_rungs,
    grid_configs,
    train_step,
)
from course_lib.torch_mlp import make_mlp

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
GRID = profiles.make(profiles.MLPGrid, profile="smoke", first_hidden=(12, 20), second_hidden=8,
                     weight_decay=(0.1, 0.001), dropout=(0.0,), learning_rate=(1e-3, 1e-2),
                     batch_size=40, steps=30, eval_every=10, validation_size=100, seed=0,
                     halving=None, train_size=None, test_size=None)


def run_grid(settings, data, device, tmp_path, monkeypatch):
    """``mlp_grid.run`` writing to ``tmp_path``; checks that its record reads back."""
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    record = mlp_grid.run(settings, data, device=device, show_progress=False)
    assert record.experiment == "mlp_grid" and record.settings == settings
    saved = results.load("mlp_grid", settings.profile, tmp_path)
    assert saved.runs == record.runs and saved.settings == settings
    for key in ("selected_by_validation", "selected_by_test", "rung_times"):
        assert saved.info[key] == record.info[key]
    return record


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
@pytest.mark.parametrize("vectorised", [False, True])  # both branches run on the CPU too
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_stacked_adam_equals_torch_adam(dtype, tol, device, vectorised):
    gen = torch.Generator().manual_seed(0)
    lrs, wds = [1e-3, 5e-4, 1e-2], [0.1, 0.0, 0.001]
    shapes = [(3, 6, 5), (3, 6)]
    params = [torch.randn(s, generator=gen, dtype=dtype).to(device).requires_grad_(True)
              for s in shapes]
    singles = [[p[k].detach().clone().requires_grad_(True) for p in params] for k in range(3)]
    stacked = StackedAdam(params, lrs, wds, vectorised=vectorised)
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
def test_grid_equals_single_model_training(device, tmp_path, monkeypatch):
    """The whole grid trainer (float32) against one configuration trained alone (on the CPU)."""
    data = synthetic_data()
    record = run_grid(GRID, data, device, tmp_path, monkeypatch)
    assert len(record.runs) == 8 and all(r.info["steps_trained"] == 30 for r in record.runs)
    assert [r.info["index"] for r in record.runs] == list(range(8))
    assert [r.info["config"] for r in record.runs] == grid_configs(GRID)
    assert record.info["rungs"] == [[30, 8]] and len(record.info["rung_times"]) == 1
    run = record.runs[5]
    config = run.info["config"]
    assert run.variant == mlp_grid.config_label(config)
    assert run.curves["eval"]["step"] == [10, 20, 30]
    train, (x_val, y_val) = data.split_validation(GRID.validation_size, seed=0)
    x, y = torch.from_numpy(flatten(train.x_train)), torch.from_numpy(train.y_train)
    model = make_mlp(48, [config["first_hidden"], 8], 10, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=config["learning_rate"],
                           weight_decay=config["weight_decay"])
    sampler = BatchSampler(len(y), GRID.batch_size, seed=0)
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
        test_logits = model(torch.from_numpy(flatten(train.x_test)))
        test_acc = (test_logits.argmax(1).numpy() == train.y_test).mean()
    assert run.final["validation_loss"] == pytest.approx(val_loss, rel=1e-4)
    assert run.final["validation_accuracy"] == pytest.approx(val_acc, abs=0.011)
    assert run.final["test_accuracy"] == pytest.approx(test_acc, abs=0.011)


def test_successive_halving_and_selections(tmp_path, monkeypatch):
    data = synthetic_data()
    settings = dataclasses.replace(GRID, dropout=(0.0, 0.5),
                                   halving=((10, 16), (20, 6), (30, 2)), eval_every=None)
    record = run_grid(settings, data, "cpu", tmp_path, monkeypatch)
    runs = record.runs
    steps = sorted(r.info["steps_trained"] for r in runs)
    assert steps == [10] * 10 + [20] * 4 + [30] * 2
    # the survivors of rung 1 are the 6 best on validation accuracy at step 10
    at10 = {r.info["index"]: r.curves["eval"]["validation_accuracy"][0] for r in runs}
    survivors = {r.info["index"] for r in runs if r.info["steps_trained"] > 10}
    assert min(at10[i] for i in survivors) >= max(at10[i] for i in at10 if i not in survivors)
    # test accuracy is only measured at the end of the last rung
    for r in runs:
        assert (r.final["test_accuracy"] is None) == (r.info["steps_trained"] < 30)
    finalists = [r for r in runs if r.info["steps_trained"] == 30]
    by_validation = record.info["selected_by_validation"]
    by_test = record.info["selected_by_test"]
    assert by_validation["validation_accuracy"] == max(
        r.final["validation_accuracy"] for r in finalists)
    assert by_test["test_accuracy"] == max(r.final["test_accuracy"] for r in finalists)
    for chosen in (by_validation, by_test):  # a selection names a finalist's run
        assert chosen["steps_trained"] == 30
        assert runs[chosen["index"]].info["config"] == chosen["config"]
    assert record.info["rungs"] == [[10, 16], [20, 6], [30, 2]]
    assert len(record.info["rung_times"]) == 3


def test_check_rungs_rejects_bad_schedules():
    assert check_rungs([[10, 4], [20, 2]], 4) == [(10, 4), (20, 2)]
    with pytest.raises(ValueError, match="first rung"):
        check_rungs([(10, 3)], 4)
    with pytest.raises(ValueError, match="increasing"):
        check_rungs([(10, 4), (10, 2)], 4)
    with pytest.raises(ValueError, match="increasing"):
        check_rungs([(10, 4), (20, 5)], 4)


def test_run_and_run_best_record(tmp_path, monkeypatch):
    data = synthetic_data(n_train=1000)
    settings = profiles.settings("mlp_grid", "smoke")
    grid = run_grid(settings, data, "cpu", tmp_path, monkeypatch)
    assert (tmp_path / "smoke" / "mlp_grid.json").is_file()
    assert len(grid.runs) == len(grid_configs(settings))
    assert grid.info["common_random_numbers"] is True
    config = grid.info["selected_by_validation"]["config"]
    # run_best retrains the validation selection: its MLP h1-second_hidden-10, its dropout,
    # weight decay and learning rate, with Adam (spied on the way to train_torch_mlp)
    original, calls = mlp_grid.train_torch_mlp, []

    def spy(*args, **kwargs):
        calls.append(inspect.signature(original).bind(*args, **kwargs).arguments)
        return original(*args, **kwargs)

    monkeypatch.setattr(mlp_grid, "train_torch_mlp", spy)
    best_settings = profiles.settings("mlp_best", "smoke")
    loaded_grid = results.load("mlp_grid", "smoke", tmp_path)  # as a chapter reads it back
    best = mlp_grid.run_best(best_settings, data, loaded_grid, device="cpu",
                             show_progress=False)
    (call,) = calls
    assert call.get("init", "pytorch") == "pytorch" and call["optimizer"] == "adam"
    assert call["settings"] == best_settings
    assert call["overrides"] == dict(n_hidden=[config["first_hidden"], 40],
                                     dropout=config["dropout"],
                                     weight_decay=config["weight_decay"],
                                     learning_rate=config["learning_rate"])
    assert best.experiment == "mlp_best" and best.settings == best_settings
    assert best.info["config"] == config and best.runs[0].info["config"] == config
    assert best.runs[0].info["optimizer"] == "adam"
    assert best.runs[0].final["step"] == best_settings.steps
    saved = results.load("mlp_best", "smoke", tmp_path)
    assert saved.runs == best.runs and saved.info["config"] == config
