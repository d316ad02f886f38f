"""The whole VGG network in NumPy against PyTorch's ConvNet and autograd, in float64.

A batch of 2 random 32x32 images keeps it fast; the chapter does the same on real CIFAR-10.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import convnet, optim
from course_lib.gradcheck import relative_error
from course_lib.numpy_convnet import NumpyConvNet, loss_and_gradient


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 3, 32, 32)), np.array([3, 7])
    model = convnet.init_convnet(0).double().train()
    net = NumpyConvNet.from_torch(model)
    loss = loss_and_gradient(net, x, y)
    ref = F.cross_entropy(model(torch.tensor(x)), torch.tensor(y))
    ref.backward()
    return net, model, x, y, loss, ref.item()


def torch_tensor(model, layer_name, key):
    prefix = "linear" if layer_name == "linear" else f"features.{layer_name}"
    return dict(model.named_parameters())[f"{prefix}.{key}"]


def test_loss_and_every_gradient_agree_with_autograd(pair):
    net, model, _, _, loss, ref_loss = pair
    assert abs(loss - ref_loss) < 1e-12 * abs(ref_loss)
    n_params = 0
    for name, layer in net.modules().items():
        mine = np.concatenate([layer.grads[k].ravel() for k in layer.params])
        theirs = np.concatenate([torch_tensor(model, name, k).grad.numpy().ravel()
                                 for k in layer.params])
        n_params += mine.size
        assert relative_error(mine, theirs) < 1e-10, name
    assert n_params == sum(p.numel() for p in model.parameters()) == 9_231_114


def test_one_adam_step_agrees(pair):
    """The updated weights agree. So do the updates themselves, except those of the conv
    biases: their gradient is rounding noise (BatchNorm follows, so it is 0 in exact
    arithmetic), and Adam's first step, ``lr g / (|g| + eps)``, scales that noise by
    ``lr / eps``: a few 1e-13 of the biases' values."""
    net, model, *_ = pair
    before = {name: {k: v.copy() for k, v in layer.params.items()}
              for name, layer in net.modules().items()}
    torch.optim.Adam(model.parameters(), lr=1e-4).step()
    optim.Adam(net.modules().values(), lr=1e-4).step()
    for name, layer in net.modules().items():
        mine = np.concatenate([layer.params[k].ravel() for k in layer.params])
        theirs = np.concatenate([torch_tensor(model, name, k).detach().numpy().ravel()
                                 for k in layer.params])
        assert relative_error(mine, theirs) < 1e-10, name
        for k, value in layer.params.items():
            if name.startswith("conv") and not name.endswith("_bn") and k == "bias":
                continue
            theirs = torch_tensor(model, name, k).detach().numpy().reshape(value.shape)
            step = value - before[name][k]
            assert relative_error(step, theirs - before[name][k]) < 1e-10, (name, k)


def test_eval_mode_and_running_statistics():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 32, 32))
    model = convnet.init_convnet(1).double().train()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # running statistics that from_torch must copy (not the 0, 1 start)
        for bn in model.modules():
            if isinstance(bn, torch.nn.BatchNorm2d):
                bn.running_mean.copy_(torch.randn(bn.running_mean.shape, generator=gen))
                bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=gen) + 0.5)
    net = NumpyConvNet.from_torch(model)
    with torch.no_grad():
        model(torch.tensor(x))  # updates the running statistics
    net.forward(x)
    model.eval()
    net.eval()
    with torch.no_grad():
        ref = model(torch.tensor(x)).numpy()
    assert relative_error(net.forward(x), ref) < 1e-12


def test_from_torch_refuses_a_grouped_network():
    with pytest.raises(ValueError, match="single ConvNet with BatchNorm"):
        NumpyConvNet.from_torch(convnet.ConvNet(n_models=2))
