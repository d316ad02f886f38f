"""The recipe's ingredients (course_lib/recipe.py, optim.sgd_nesterov), its configurations, its
runner and its table."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_data

from course_lib import optim, profiles, recipe, results
from course_lib.gradcheck import numerical_gradient, relative_error
from course_lib.results import Record, Run

SETTINGS = profiles.make(profiles.Recipe, profile="smoke", epochs=1, batch_size=8,
                         seeds=(0, 1), ablation_seeds=(0, 1), whiten_images=16,
                         eval_size=8, report_longer_steps=2, time_budget_s=None)


# Augmentation --------------------------------------------------------------------------------
def test_flip_mirrors_exactly_the_images_selected():
    x = torch.randn(4, 3, 5, 6)
    mask = torch.tensor([True, False, True, False])
    out = recipe.flip(x, mask)
    for n in range(4):
        assert torch.equal(out[n], x[n].flip(-1) if mask[n] else x[n])
    assert torch.equal(recipe.flip(out, mask), x)  # twice: the identity


def test_translate_matches_a_loop_over_images_and_reflects_at_the_border():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 8, 8, generator=gen)
    shifts = torch.tensor([[0, 0], [2, -1], [-2, 2], [1, 0], [0, -2], [-1, -1]])
    out = recipe.translate(x, shifts, 2)
    for n, (dy, dx) in enumerate(shifts.tolist()):
        padded = F.pad(x[n:n + 1], (2, 2, 2, 2), mode="reflect")[0]
        expected = padded[:, 2 - dy:2 - dy + 8, 2 - dx:2 - dx + 8]
        assert torch.equal(out[n], expected)
        inner = x[n, :, max(0, -dy):8 - max(0, dy), max(0, -dx):8 - max(0, dx)]
        moved = out[n, :, max(0, dy):8 - max(0, -dy), max(0, dx):8 - max(0, -dx)]
        assert torch.equal(inner, moved)  # the image itself moved by (dy, dx)
    assert torch.equal(out[0], x[0])


def test_draws_are_seeded_and_in_range():
    a = recipe.draw_augmentation(np.random.default_rng(3), 1000, 2)
    b = recipe.draw_augmentation(np.random.default_rng(3), 1000, 2)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    mask, shifts = a
    assert 400 < mask.sum() < 600 and shifts.shape == (1000, 2)
    assert set(np.unique(shifts)) == {-2, -1, 0, 1, 2}


# Label smoothing -----------------------------------------------------------------------------
def test_smoothed_loss_is_pytorchs_and_plain_cross_entropy_at_zero():
    gen = torch.Generator().manual_seed(0)
    z, y = torch.randn(7, 10, generator=gen, dtype=torch.float64), torch.arange(7) % 10
    q = recipe.smoothed_targets(y, 10, 0.2)
    assert torch.allclose(q.sum(1), torch.ones(7, dtype=q.dtype))
    assert q[0, 0] == pytest.approx(0.82) and q[0, 1] == pytest.approx(0.02)
    # float64 throughout: agreement to rounding, not to float32's precision
    assert torch.allclose(recipe.smoothed_cross_entropy(z, y, 0.2),
                          F.cross_entropy(z, y, label_smoothing=0.2), rtol=1e-14, atol=0)
    assert torch.allclose(recipe.smoothed_cross_entropy(z, y, 0.0), F.cross_entropy(z, y),
                          rtol=1e-14, atol=0)
    grouped = recipe.smoothed_cross_entropy(z.view(7, 1, 10).repeat(1, 3, 1),
                                            y.view(7, 1).repeat(1, 3), 0.2)
    assert grouped.shape == (3,) and torch.allclose(grouped, grouped[0].expand(3))


def test_smoothed_gradient_is_softmax_minus_target_by_central_differences():
    rng = np.random.default_rng(1)
    z, y = rng.standard_normal((5, 10)), torch.tensor([0, 3, 3, 9, 1])

    def loss(a):
        return recipe.smoothed_cross_entropy(torch.from_numpy(a), y, 0.2).item()

    numeric = numerical_gradient(loss, z.copy())
    analytic = recipe.smoothed_cross_entropy_backward(torch.from_numpy(z), y, 0.2).numpy()
    assert relative_error(analytic, numeric) < 1e-8


# SGD with Nesterov momentum and its schedule -----------------------------------------------
def test_sgd_nesterov_is_torchs_step_for_step():
    gen = torch.Generator().manual_seed(0)
    w0 = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    grads = [torch.randn(4, 3, generator=gen, dtype=torch.float64) for _ in range(4)]
    p = torch.nn.Parameter(w0.clone())
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-3)
    w, b = w0.clone(), torch.zeros_like(w0)
    for g in grads:
        p.grad = g.clone()
        opt.step()
        w, b = optim.sgd_nesterov(w, g, b, 0.1, 0.9, 5e-3)
        assert relative_error(w.numpy(), p.detach().numpy()) < 1e-14
    # and with momentum 0 it is plain SGD
    assert torch.equal(optim.sgd_nesterov(w0, grads[0], 0 * w0, 0.1, 0.0)[0],
                       optim.sgd(w0, grads[0], 0.1))


def test_learning_rate_warms_up_and_decays_linearly():
    lr = [recipe.learning_rate(t, 100, 0.4, 0.2) for t in range(101)]
    assert lr[0] == 0 and lr[20] == pytest.approx(0.4) and lr[100] == 0
    assert lr[10] == pytest.approx(0.2) and lr[60] == pytest.approx(0.2)
    assert max(lr) == pytest.approx(0.4)


# Patch whitening -----------------------------------------------------------------------------
def test_whitened_patches_have_identity_covariance():
    gen = torch.Generator().manual_seed(0)
    # correlated images: smoothed noise, so the patches' covariance is far from the identity
    x = F.avg_pool2d(torch.randn(40, 3, 18, 18, generator=gen, dtype=torch.float64), 3, 1)
    x = 30 * x + torch.randn(40, 3, 16, 16, generator=gen, dtype=torch.float64)
    for eps in (0.0, 1e-2):
        W = recipe.whitening_filters(x, 3, eps)
        assert W.shape == (27, 3, 3, 3)
        p = recipe.patches(x, 3)
        p = p - p.mean(0)
        z = p @ W.reshape(27, -1).T
        cov = z.T @ z / (len(z) - 1)
        lam = torch.linalg.eigvalsh(p.T @ p / (len(p) - 1))
        # eigh sorts ascending: filter i belongs to eigenvalue i
        expected = torch.diag(lam / (lam + eps * lam.mean()))
        assert relative_error(cov.numpy(), expected.numpy()) < 1e-9
    assert relative_error(cov.numpy(), np.eye(27)) > 1e-3  # eps does shrink the smallest
    W = recipe.whitening_filters(x, 3, 0.0)
    z = recipe.patches(x, 3) @ W.reshape(27, -1).T
    z = z - z.mean(0)
    assert relative_error((z.T @ z / (len(z) - 1)).numpy(), np.eye(27)) < 1e-9


def test_whitening_layer_is_the_filters_as_a_frozen_grouped_convolution():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 10, 10, generator=gen)
    W = recipe.whitening_filters(x, 3)
    layer = recipe.PatchWhitening(W, n_models=2)
    assert list(layer.parameters()) == []  # a buffer: no optimiser changes it
    out = layer(torch.cat([x, 2 * x], 1))
    assert out.shape == (4, 54, 10, 10)
    inner = recipe.patches(x, 3) @ W.reshape(27, -1).float().T  # the 8x8 interior positions
    inner = inner.view(4, 64, 27).transpose(1, 2).reshape(4, 27, 8, 8)
    assert torch.allclose(out[:, :27, 1:-1, 1:-1], inner, atol=1e-4)
    assert torch.allclose(out[:, 27:], 2 * out[:, :27], atol=1e-4)  # model 2: its own input


# Weight averaging and test-time augmentation -------------------------------------------------
def test_update_average_is_the_ema_of_every_weight_and_statistic():
    model = recipe.build([0, 1])
    average = recipe.build([2, 3])
    before = {k: v.clone() for k, v in average.state_dict().items()}
    recipe.update_average(average, model, 0.9)
    for k, v in average.state_dict().items():
        w = model.state_dict()[k]
        expected = recipe.ema(before[k], w, 0.9) if v.is_floating_point() else w
        assert torch.allclose(v, expected, atol=1e-6), k
    assert recipe.ema(2.0, 4.0, 0.75) == 2.5


def test_tta_is_exactly_mirror_invariant_and_off_is_the_plain_network():
    model = recipe.build([0], recipe.whitening_filters(torch.randn(8, 3, 32, 32), 3))
    x = 50 * torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    a, b = recipe.predict(model, x, tta=True), recipe.predict(model, recipe.mirror(x), tta=True)
    assert torch.equal(a, b)
    plain = recipe.predict(model, x)
    with torch.no_grad():
        assert torch.allclose(plain[:, 0], model.eval()(x), atol=1e-5)
    assert not torch.allclose(plain, a, atol=1e-3)


def test_bf16_autocast_runs_on_the_cpu_and_rounds_only():
    model = recipe.build([0, 1])
    x = 50 * torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    full, half = recipe.predict(model, x), recipe.predict(model, x, bf16=True)
    assert half.dtype == torch.float32 and 0 < relative_error(half.numpy(), full.numpy()) < 0.05


# Configurations --------------------------------------------------------------------------------
def test_configurations_switch_one_flag_or_a_prefix_of_the_path():
    s = profiles.settings("recipe", "paper")
    assert recipe.ingredients(s) == recipe.INGREDIENTS
    for name in recipe.INGREDIENTS:
        c = recipe.configuration(s, f"no_{name}")
        assert recipe.ingredients(c) == tuple(i for i in recipe.INGREDIENTS if i != name)
        changed = {f.name for f in dataclasses.fields(s)
                   if getattr(s, f.name) != getattr(c, f.name)}
        assert changed == {name}
    assert recipe.ingredients(recipe.configuration(s, "path_2")) == ("nesterov", "augment")
    assert recipe.configuration(s, "path_6") == s == recipe.configuration(s, "full")
    for bad in ("no_dropout", "path_9", "fast"):
        with pytest.raises(ValueError, match="unknown configuration"):
            recipe.configuration(s, bad)


def test_the_plan_trains_once_what_several_configurations_share():
    s = profiles.settings("recipe", "paper")
    plan = recipe.plan(s)
    full = ("nesterov", "augment", "label_smoothing", "whiten")
    assert list(plan)[:2] == [full, recipe.REPORT_LONGER]
    assert plan[full] == s.seeds and plan[recipe.REPORT_LONGER] == s.ablation_seeds
    # full, no_ema, no_tta, path_4, path_5 are one training; no_whiten is path_3
    assert len(plan) == 8 and len(s.variants) == 13
    assert len(s.seeds) >= 5 and len(s.ablation_seeds) >= 3
    assert set(s.ablation_seeds) <= set(s.seeds)  # paired by seed with the full recipe


def test_report_longer_is_chapter_7s_settings_for_longer():
    s = profiles.settings("recipe", "paper")
    cnn, report_cnn = recipe.report_longer_settings(s), profiles.settings("cnn", "paper")
    assert {k: v for k, v in profiles.changes(cnn).items()} == {
        "steps": (s.report_longer_steps, report_cnn.steps),
        "seeds": (s.ablation_seeds, report_cnn.seeds),
        "variants": (("batch_norm",), report_cnn.variants),
        "eval_every": (report_cnn.steps // 2, report_cnn.eval_every)}
    assert s.report_longer_steps > report_cnn.steps
    assert report_cnn.steps % cnn.eval_every == 0  # evaluated at the report's 5,000 steps too


# Training, the runner and the table -----------------------------------------------------------
def test_a_seed_trains_the_same_alone_or_grouped():
    data = tiny_data()
    s = dataclasses.replace(SETTINGS, bf16=False)
    alone = recipe.train_recipe(data, s, [1], show_progress=False)[0]
    grouped = recipe.train_recipe(data, s, [0, 1], show_progress=False)
    a, g = alone.curves["train"]["loss"], grouped[1].curves["train"]["loss"]
    assert len(a) == len(g) == 1  # one epoch, averaged
    np.testing.assert_allclose(a, g, rtol=1e-3)  # same weights, batches and augmentation
    assert abs(grouped[0].curves["train"]["loss"][0] - g[0]) > 1e-3  # seeds differ
    assert set(alone.final) >= {recipe.metric_name(e, t) for e in (0, 1) for t in (0, 1)}


def test_run_records_every_configuration_and_the_table_pairs_them(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    s = dataclasses.replace(SETTINGS, variants=("full", "no_tta", "path_4", "no_augment"))
    record = recipe.run(s, tiny_data(), device="cpu", show_progress=False)
    assert record.info["complete"] and record.info["skipped"] == []
    assert len(record.info["trainings"]) == 2  # full, no_tta and path_4 share one
    for run in record.select(variant="no_tta"):
        full = next(r for r in record.select(variant="full") if r.seed == run.seed)
        assert run.final["test_accuracy"] == full.final["test_accuracy_ema"]
        assert full.final["test_accuracy"] == full.final["test_accuracy_ema_tta"]
    saved = results.load("recipe", "smoke", tmp_path)
    assert saved.runs == record.runs and saved.settings == s
    rows = recipe.table(saved)
    assert [r.name for r in rows] == ["full", "no_tta", "path_4", "no_augment"]
    assert rows[1].versus == "full" and rows[0].versus is None


def test_the_table_takes_paired_differences_over_common_seeds():
    def runs(variant, accuracies):
        return [Run(seed, {"test_accuracy": a}, {}, {"eval": {"step": [], "test_accuracy": []}},
                    2.0, variant) for seed, a in accuracies.items()]
    s = dataclasses.replace(SETTINGS, variants=("full", "no_whiten"))
    record = Record("recipe", s, runs("full", {0: 0.90, 1: 0.92, 2: 0.91, 3: 0.95})
                    + runs("no_whiten", {0: 0.88, 1: 0.91, 2: 0.88}), "cpu", 1.0)
    full, no_whiten = recipe.table(record)
    assert full.n == 4 and full.mean == pytest.approx(0.92)
    assert no_whiten.versus == "full" and no_whiten.diff == pytest.approx(-0.02)
    lo, hi = no_whiten.ci
    assert lo < -0.02 < hi and hi < 0.01
    assert "no_whiten" in recipe.format_table([full, no_whiten])


def test_a_training_that_would_not_fit_the_budget_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    s = dataclasses.replace(SETTINGS, seeds=(0,), ablation_seeds=(0,), time_budget_s=1e-3,
                            variants=("full", "no_augment"))
    record = recipe.run(s, tiny_data(), device="cpu", show_progress=False)
    assert record.info["skipped"] == ["nesterov+label_smoothing+whiten"]
    assert not record.info["complete"] and {r.variant for r in record.runs} == {"full"}
