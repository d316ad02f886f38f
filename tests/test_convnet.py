"""The VGG-style ConvNet of chapter 7, its grouped (several seeds in one network) form and
its training loop."""

import dataclasses

import numpy as np
import pytest
import torch
from conftest import tiny_data

from course_lib import convnet, profiles, results
from course_lib.convnet import (
    ARCHITECTURE,
    ConvNet,
    evaluate,
    fold_batchnorm,
    grouped_loss,
    init_convnet,
    stack_models,
    train_convnets,
)


def table_parameter_count(n_classes=10, batch_norm=True):
    """Parameters from the assignment's table: 3x3 convs with bias (+ BN scale and shift),
    then the linear layer 512 -> n_classes."""
    total = 0
    for _, c_in, c_out in ARCHITECTURE:
        if c_in is not None:
            total += 9 * c_in * c_out + c_out + (2 * c_out if batch_norm else 0)
    return total + 512 * n_classes + n_classes


def test_output_shape_and_parameter_count_match_the_table():
    model = ConvNet(3, 10)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == table_parameter_count() == 9_231_114
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (c_in, c_out) for _, c_in, c_out in ARCHITECTURE if c_in is not None]


def test_spatial_sizes_halve_at_every_max_pool():
    model = ConvNet(3, 10).eval()
    x, sizes = torch.randn(1, 3, 32, 32), []
    with torch.no_grad():
        for name, layer in model.features.named_children():
            x = layer(x)
            if name.startswith("maxpool"):
                sizes.append(x.shape[-1])
    assert sizes == [16, 8, 4, 2, 1]
    assert x.shape == (1, 512, 1, 1)


def test_without_batch_norm():
    model = ConvNet(3, 10, batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert sum(p.numel() for p in model.parameters()) == table_parameter_count(batch_norm=False)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_grouped_shapes_and_parameter_count():
    model = ConvNet(3, 10, n_models=3)
    assert model(torch.randn(2, 9, 32, 32)).shape == (2, 3, 10)
    assert sum(p.numel() for p in model.parameters()) == 3 * table_parameter_count()


@pytest.mark.parametrize("batch_norm", [True, False])
def test_grouped_network_equals_its_single_networks(batch_norm):
    torch.manual_seed(0)
    singles = [init_convnet(seed, batch_norm) for seed in (3, 7)]
    grouped = stack_models(singles)
    x = 50 * torch.randn(4, 6, 32, 32)
    y = torch.randint(0, 10, (4, 2))
    out = grouped(x)
    outs = [m(x[:, 3 * g:3 * g + 3]) for g, m in enumerate(singles)]
    for g in range(2):
        torch.testing.assert_close(out[:, g], outs[g], rtol=1e-4, atol=1e-5)
    total, per_model = grouped_loss(out, y)
    total.backward()
    losses = [torch.nn.functional.cross_entropy(o, y[:, g]) for g, o in enumerate(outs)]
    torch.testing.assert_close(per_model, torch.stack(losses).detach(), rtol=1e-5, atol=1e-6)
    sum(losses).backward()
    for (name, p), *ps in zip(grouped.named_parameters(), *(m.parameters() for m in singles)):
        expected = torch.cat([q.grad for q in ps])
        # conv biases before BatchNorm have a zero gradient: compare on the layer's scale
        scale = max(expected.abs().max().item(), grouped.features[0].weight.grad.abs().max().item())
        torch.testing.assert_close(p.grad, expected, rtol=1e-3, atol=1e-5 * scale, msg=name)


def test_seed_fixes_the_initialisation_and_stack_copies_each_model():
    a, b = init_convnet(5), init_convnet(5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = init_convnet(6)
    assert not torch.equal(a.features.conv1.weight, c.features.conv1.weight)
    grouped = stack_models([c, a])
    for name, p in grouped.state_dict().items():  # model 1 owns the second half of each row
        q = a.state_dict()[name]
        assert torch.equal(p if q.dim() == 0 else p[len(q):], q), name


def test_a_few_adam_steps_reduce_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = init_convnet(0)
    x, y = 60 * torch.randn(8, 3, 32, 32), torch.arange(8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(6):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_evaluation_mode_is_deterministic_and_per_image():
    torch.manual_seed(0)
    model = stack_models([init_convnet(0), init_convnet(1)])
    model(40 * torch.randn(8, 6, 32, 32))  # one training-mode pass moves the running stats
    x, y = 40 * torch.randn(10, 3, 32, 32), torch.arange(10)
    loss1, acc1, p1 = evaluate(model, x, y, batch_size=4)
    loss2, acc2, p2 = evaluate(model, x, y, batch_size=10)
    torch.testing.assert_close(p1, p2, rtol=1e-4, atol=1e-6)  # no dependence on the batch
    np.testing.assert_allclose(loss1, loss2, rtol=1e-5)
    np.testing.assert_array_equal(acc1, acc2)
    assert p1.shape == (10, 2, 10) and model.training  # the training mode is restored
    torch.testing.assert_close(p1.sum(-1), torch.ones(10, 2))


@pytest.mark.parametrize("n_models", [1, 2])
def test_folding_batchnorm_into_the_convolutions_keeps_the_outputs(n_models):
    torch.manual_seed(0)
    model = stack_models([init_convnet(s) for s in range(n_models)]).double()  # exact maths
    with torch.no_grad():  # BatchNorm parameters and running statistics far from 1 and 0
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                for t, lo, hi in ((m.weight, 0.5, 2), (m.bias, -1, 1), (m.running_mean, -1, 1),
                                  (m.running_var, 0.2, 3)):
                    t.uniform_(lo, hi)
                m.running_var[0] = m.eps  # a channel where leaving out ε would show
    folded = fold_batchnorm(model)
    assert folded.batch_norm is False and model.training  # a new network; the model untouched
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(6, 3 * n_models, 32, 32, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-9, atol=1e-9)
    plain = ConvNet(batch_norm=False)
    assert fold_batchnorm(plain) is plain


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 3, 32), (2, 9, 32, 32)])
def test_wrong_input_shape_raises(shape):
    model = ConvNet(3, 10, n_models=2)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.randn(*shape))


SETTINGS = profiles.make(profiles.CNN, profile="smoke", steps=6, batch_size=4,
                         learning_rate=1e-4, eval_every=4, train_avg=2, eval_size=8,
                         train_size=None, test_size=None)


def test_a_seed_trains_the_same_alone_or_grouped():
    data, settings = tiny_data(), dataclasses.replace(SETTINGS, train_avg=1)
    alone, p_alone = train_convnets(data, settings, [1], show_progress=False)
    grouped, p_grouped = train_convnets(data, settings, [0, 1], show_progress=False)
    assert [r.seed for r in grouped] == [0, 1]
    assert all(r.variant == "batch_norm" and r.info["n_models"] == 2 for r in grouped)
    a, g = alone[0].curves, grouped[1].curves
    assert a["eval"]["step"] == g["eval"]["step"] == [4, 6]
    # step 1: same initial weights and same first batch, up to float rounding
    np.testing.assert_allclose(a["train"]["loss"][0], g["train"]["loss"][0], rtol=1e-5)
    # later: Adam amplifies rounding a little, still far below the seed-to-seed difference
    np.testing.assert_allclose(a["train"]["loss"], g["train"]["loss"], rtol=1e-2)
    np.testing.assert_allclose(a["eval"]["test_loss"], g["eval"]["test_loss"], rtol=1e-2)
    np.testing.assert_allclose(p_alone[0], p_grouped[1], atol=1e-2)
    assert p_grouped.shape == (2, 20, 10)
    other = grouped[0].curves["train"]["loss"]
    assert abs(other[0] - g["train"]["loss"][0]) > 1e-2  # seeds 0 and 1 differ


def test_run_records_one_run_per_variant_and_seed(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    settings = dataclasses.replace(SETTINGS, steps=2, eval_every=1, seeds=(0, 1),
                                   variants=("batch_norm", "no_batch_norm"))
    data = tiny_data()
    record = convnet.run(settings, data, device="cpu", show_progress=False)
    assert record.experiment == "cnn" and record.settings == settings
    assert record.profile == "smoke" and record.device == "cpu"
    assert [(r.variant, r.seed) for r in record.runs] == [
        ("batch_norm", 0), ("batch_norm", 1), ("no_batch_norm", 0), ("no_batch_norm", 1)]
    probabilities = record.memory["probabilities"]
    assert set(probabilities) == {(r.variant, r.seed) for r in record.runs}
    for run in record.runs:
        assert 0 <= run.final["test_accuracy"] <= 1 and run.final["step"] == 2
        assert run.curves["eval"]["step"] == [1, 2] and run.wall_time > 0
        probs = probabilities[run.variant, run.seed]
        assert probs.shape == (20, 10)
        # the probabilities are this run's: its final test accuracy on the whole test set
        assert (probs.argmax(1) == data.y_test).mean() == pytest.approx(
            run.final["test_accuracy"])
    saved = results.load("cnn", "smoke", tmp_path)
    assert saved.runs == record.runs and saved.settings == settings
    assert saved.memory == {}  # the probabilities are not written
    assert "probabilities" not in (tmp_path / "smoke" / "cnn.json").read_text()


def test_unknown_variant_raises(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    with pytest.raises(ValueError, match=r"setting variants=\('dropout',\)"):  # settings refuse it
        settings = dataclasses.replace(SETTINGS, seeds=(0,), variants=("dropout",))
        convnet.run(settings, tiny_data(), device="cpu", show_progress=False)
