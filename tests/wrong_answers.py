"""The bank of answers a student might write, for the grader's and the chapters' tests.

``BANK[task]`` lists :class:`Answer` s for one of the 22 tasks of ``course_lib.grader.TASKS``:
plausible wrong versions (the report's own mistakes first, then common ones), and correct
versions written in another style than the reference, which must pass. An answer replaces the
solution region of one function or more (its target first; the others are correct, e.g. a ReLU
forward pass that keeps ``self.x`` for the backward pass under test). ``expect`` is a piece of
the grader's verdict on the target: ``"correct"``, or the words that name what differs.

Not part of the assignment edition (it holds solutions): see ``scripts/make_assignment.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    name: str
    bodies: dict[str, str]  # function -> the lines of its solution region
    expect: str             # a piece of the grader's result for the target ("correct" to pass)
    chapter: str = ""       # a piece of what the chapter prints about it ("" : the target's name)

    @property
    def target(self) -> str:
        return next(iter(self.bodies))

    @property
    def wrong(self) -> bool:
        return self.expect != "correct"


LINEAR_FORWARD = """
self.x = x
return x @ self.params["weight"].T + self.params["bias"]
"""
RELU_KEEPS_X = """
self.x = x
return np.maximum(x, 0)
"""
BN_FORWARD = """
mu = input.mean(dim=0)
var = {var}
inv_std = 1.0 / torch.sqrt(var + eps)
x_hat = (input - mu) * inv_std
ctx.save_for_backward(gamma, x_hat, inv_std)
return gamma * x_hat + {beta}
"""
BN_BACKWARD = """
gamma, x_hat, inv_std = ctx.saved_tensors
grad_gamma = (grad_output * x_hat).sum(dim=0)
grad_beta = grad_output.sum(dim=0)
b = grad_output.shape[0]
grad_input = {dx}
return grad_input, grad_gamma, grad_beta, None
"""
CONV = """
n, c_out, k = len(x), weight.shape[0], weight.shape[2]
h_out, w_out = (output_size(s, k, {stride}, padding) for s in x.shape[2:])
out = im2col(x, k, {stride}, padding) @ {weight}.reshape(c_out, -1).T
if bias is not None{bias}:
    out += bias
return np.ascontiguousarray(out.reshape(n, h_out, w_out, c_out).transpose(0, 3, 1, 2))
"""
CONV_BACKWARD_INPUT = """
n, c_out, h_out, w_out = dout.shape
k, (h, w) = weight.shape[2], input_size
if stride > 1:
    dilated = np.zeros((n, c_out, (h_out - 1) * stride + 1, (w_out - 1) * stride + 1))
    dilated[:, :, ::stride, ::stride] = dout
    dout = dilated
before = {before}
dout = _pad(dout, before, h + k - 1 - before - dout.shape[2],
            before, w + k - 1 - before - dout.shape[3])
return conv2d(dout, {flipped})
"""
CONV_FORWARD = """
self.cols = im2col(x, k, self.stride, self.padding)
n, h_out, w_out = len(x), *(output_size(s, k, self.stride, self.padding) for s in x.shape[2:])
out = self.cols @ {weight}.T{bias}
return np.ascontiguousarray(out.reshape(n, h_out, w_out, c_out).transpose(0, 3, 1, 2))
"""
CONV_BACKWARD = """
rows = dout.transpose(0, 2, 3, 1).reshape(-1, c_out)
self.grads["weight"] = {dw}
self.grads["bias"] = dout.{db}(axis=(0, 2, 3))
if not input_grad{always}:
    return None
return conv2d_backward_input(dout, weight, self.x_shape[2:], self.stride, self.padding)
"""
POOL_KEEPS_X = """
k, s = self.kernel_size, self.stride
self.xp = _pad(x, *[self.padding] * 4, value=-np.inf)
n, c = x.shape[:2]
h_out, w_out = (output_size(size, k, s, self.padding) for size in x.shape[2:])
out = np.empty((n, c, h_out, w_out), dtype=x.dtype)
for i in range(h_out):
    for j in range(w_out):
        out[:, :, i, j] = self.xp[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
return out
"""
POOL_LOOP_BACKWARD = """
k, s, p = self.kernel_size, self.stride, self.padding
n, c, h, w = self.x_shape
dx = np.zeros(self.xp.shape)
for i in range(dout.shape[2]):
    for j in range(dout.shape[3]):
        window = self.xp[:, :, i * s:i * s + k, j * s:j * s + k].reshape(n, c, k * k)
        {route}
        dx[:, :, i * s:i * s + k, j * s:j * s + k] {op} \\
            mask.reshape(n, c, k, k) * dout[:, :, i:i + 1, j:j + 1]
return dx[:, :, p:p + h, p:p + w]
"""
FIRST_ARGMAX = "mask = np.eye(k * k)[window.argmax(axis=2)]"
EVERY_MAX = "mask = (window == window.max(axis=2, keepdims=True)).astype(float)"
DROPOUT = """
if not self.training or self.p == 0:
    self.scale = np.ones((), dtype=x.dtype)
    return x
self.scale = ((self.rng.random(x.shape) {keep} self.p) {scale}){cast}
return x * self.scale
"""
BN2D_FORWARD = """
axes, m = (0, 2, 3), x.shape[0] * x.shape[2] * x.shape[3]
if self.training:
    mean, var = x.mean(axis=axes), x.var(axis=axes{ddof})
    self.running_mean = {running_mean}
    self.running_var = (1 - self.momentum) * self.running_var + self.momentum * {running_var}
else:
    mean, var = self.running_mean, self.running_var
self.inv_std = (1 / np.sqrt(var + self.eps))[:, None, None]
self.x_hat = (x - mean[:, None, None]) * self.inv_std
gamma, beta = self.params["weight"][:, None, None], self.params["bias"][:, None, None]
return gamma * self.x_hat + beta
"""
BN2D_BACKWARD = """
axes, m = (0, 2, 3), {m}
self.grads["weight"] = (dout * self.x_hat).sum(axis=axes)
self.grads["bias"] = dout.sum(axis=axes)
scale = self.params["weight"][:, None, None] * self.inv_std
if not self.training{eval}:
    return scale * dout
return scale / m * (m * dout{mean_term} - self.x_hat * self.grads["weight"][:, None, None])
"""
ADAM = """
beta1, beta2 = betas
g = {decay_g}
m = beta1 * m + (1 - beta1) * g
v = beta2 * v + (1 - beta2) * g * g
m_hat, v_hat = {hats}
return {w}w - lr * m_hat / ({sqrt_v}){decay_w}, m, v
"""
ADAM_RIGHT = dict(decay_g="g + weight_decay * w", hats="m / (1 - beta1 ** t), v / (1 - beta2 ** t)",
                  w="", sqrt_v="np.sqrt(v_hat) + eps", decay_w="")


def adam(**changes) -> str:
    return ADAM.format(**{**ADAM_RIGHT, **changes})


BANK: dict[str, list[Answer]] = {
    "softmax": [
        Answer("no max-subtraction", {"softmax": """
            z = np.exp(x)
            return z / z.sum(axis=1, keepdims=True)"""},
               "softmax([[1000, 999, 0]]) (large logits) is not finite",
               "softmax of [1000, 999, 0]"),
        Answer("normalised over the batch (axis 0)", {"softmax": """
            z = np.exp(x - x.max(axis=0, keepdims=True))
            return z / z.sum(axis=0, keepdims=True)"""},
               "differs", "softmax"),
        Answer("changes x in place", {"softmax": """
            x -= x.max(axis=1, keepdims=True)
            np.exp(x, out=x)
            x /= x.sum(axis=1, keepdims=True)
            return x"""}, "changed its input x in place", "in place"),
        Answer("as exp(log_softmax(x))", {"softmax": "return np.exp(log_softmax(x))"}, "correct"),
    ],
    "softmax_backward": [
        Answer("the Jacobian's diagonal only", {"softmax_backward": """
            return dout * out * (1 - out)"""}, "dL/dx differs"),
        Answer("the sum over the batch axis", {"softmax_backward": """
            return out * (dout - np.sum(dout * out, axis=0, keepdims=True))"""}, "dL/dx differs"),
        Answer("the sign of x x^T", {"softmax_backward": """
            return out * (dout + np.sum(dout * out, axis=1, keepdims=True))"""}, "dL/dx differs"),
        Answer("the Jacobian formed row by row", {"softmax_backward": """
            return np.stack([g @ (np.diag(p) - np.outer(p, p)) for g, p in zip(dout, out)])"""},
               "correct"),
    ],
    "cross_entropy": [
        Answer("no 1/B (the sum over the batch)", {"cross_entropy": """
            return float(-np.sum(targets * np.log(probs)))"""}, "the loss of a batch of 5 differs"),
        Answer("no minus sign", {"cross_entropy": """
            return float(np.sum(targets * np.log(probs)) / len(probs))"""}, "differs"),
        Answer("the mean over all entries", {"cross_entropy": """
            return float(-np.mean(targets * np.log(probs)))"""}, "differs"),
        Answer("through the labels", {"cross_entropy": """
            return float(-np.log(probs[np.arange(len(probs)), targets.argmax(axis=1)]).mean())"""},
               "correct"),
    ],
    "cross_entropy_backward": [
        Answer("no 1/B", {"cross_entropy_backward": "return -targets / probs"},
               "dL/d(probs) of the batch mean differs"),
        Answer("no minus sign", {"cross_entropy_backward": "return targets / probs / len(probs)"},
               "differs"),
        Answer("the fused gradient's (p - t) / B", {"cross_entropy_backward": """
            return (probs - targets) / len(probs)"""}, "differs"),
    ],
    "softmax_cross_entropy_backward": [
        Answer("no 1/B", {"softmax_cross_entropy_backward": "return softmax(logits) - targets"},
               "dL/d(logits) of the batch mean differs"),
        Answer("t - p", {"softmax_cross_entropy_backward": """
            return (targets - softmax(logits)) / len(logits)"""}, "differs"),
        Answer("without the softmax", {"softmax_cross_entropy_backward": """
            return (logits - targets) / len(logits)"""}, "differs"),
    ],
    "LinearModule.forward": [
        Answer("no bias", {"LinearModule.forward": """
            self.x = x
            return x @ self.params["weight"].T"""}, "out = forward(x) differs"),
        Answer("x W instead of x W^T", {"LinearModule.forward": """
            self.x = x
            return x @ self.params["weight"] + self.params["bias"]"""}, "raised ValueError"),
        Answer("the output transposed", {"LinearModule.forward": """
            self.x = x
            return self.params["weight"] @ x.T + self.params["bias"][:, None]"""},
               "out = forward(x) has shape [4, 6], expected [6, 4]"),
    ],
    "LinearModule.backward": [
        Answer("the transposed weight gradient", {"LinearModule.backward": """
            self.grads["weight"] = self.x.T @ dout
            self.grads["bias"] = dout.sum(axis=0)
            return dout @ self.params["weight"] if input_grad else None"""},
               "grads['weight'] has shape [5, 4], expected [4, 5]"),
        Answer("the bias gradient averaged", {"LinearModule.backward": """
            self.grads["weight"] = dout.T @ self.x
            self.grads["bias"] = dout.mean(axis=0)
            return dout @ self.params["weight"] if input_grad else None"""},
               "grads['bias'] differs"),
        Answer("input_grad ignored", {"LinearModule.backward": """
            self.grads["weight"] = dout.T @ self.x
            self.grads["bias"] = dout.sum(axis=0)
            return dout @ self.params["weight"]"""}, "input_grad=False) must return None"),
    ],
    "ReLUModule.forward": [
        Answer("leaky", {"ReLUModule.forward": """
            self.mask = x > 0
            return np.where(x > 0, x, 0.01 * x)"""}, "out = forward(x) differs"),
        Answer("the absolute value", {"ReLUModule.forward": """
            self.mask = x > 0
            return np.abs(x)"""}, "differs"),
        Answer("the mask as output", {"ReLUModule.forward": """
            self.mask = x > 0
            return self.mask * 1.0"""}, "differs"),
    ],
    "ReLUModule.backward": [
        Answer("the report's eq. 18: 1[x < 0]", {"ReLUModule.backward": """
            return dout * (self.x < 0)""", "ReLUModule.forward": RELU_KEEPS_X},
               "dL/dx where x != 0 differs"),
        Answer("1[x >= 0]: gradient 1 at the kink", {"ReLUModule.backward": """
            return dout * (self.x >= 0)""", "ReLUModule.forward": RELU_KEEPS_X},
               "dL/dx at x = 0 (0 there) differs", "x~ = 0"),
        Answer("the mask without dout", {"ReLUModule.backward": """
            return self.mask * 1.0"""}, "differs"),
        Answer("keeping self.x", {"ReLUModule.backward": "return dout * (self.x > 0)",
                                  "ReLUModule.forward": RELU_KEEPS_X}, "correct"),
    ],
    "CustomBatchNormManualFunction.forward": [
        Answer("unbiased variance", {"CustomBatchNormManualFunction.forward": BN_FORWARD.format(
            var="input.var(dim=0)", beta="beta")}, "y (normalised with the batch's mean and "
                                                   "biased variance) differs"),
        Answer("eps outside the square root", {"CustomBatchNormManualFunction.forward": """
            mu = input.mean(dim=0)
            var = ((input - mu) ** 2).mean(dim=0)
            inv_std = 1.0 / (torch.sqrt(var) + eps)
            x_hat = (input - mu) * inv_std
            ctx.save_for_backward(gamma, x_hat, inv_std)
            return gamma * x_hat + beta"""}, "differs"),
        Answer("no shift", {"CustomBatchNormManualFunction.forward": BN_FORWARD.format(
            var="((input - mu) ** 2).mean(dim=0)", beta="0 * beta")}, "differs"),
    ],
    "CustomBatchNormManualFunction.backward": [
        Answer("the report's dmu/dx without its mean term", {
            "CustomBatchNormManualFunction.backward": BN_BACKWARD.format(
                dx="gamma * inv_std / b * (b * grad_output - x_hat * grad_gamma)")},
               "dL/dinput differs"),
        Answer("no gamma in dL/dx", {
            "CustomBatchNormManualFunction.backward": BN_BACKWARD.format(
                dx="inv_std / b * (b * grad_output - grad_beta - x_hat * grad_gamma)")},
               "dL/dinput differs"),
        Answer("the x_hat term dropped", {
            "CustomBatchNormManualFunction.backward": BN_BACKWARD.format(
                dx="gamma * inv_std / b * (b * grad_output - grad_beta)")}, "dL/dinput differs"),
        Answer("every gradient, needed or not", {
            "CustomBatchNormManualFunction.backward": BN_BACKWARD.format(
                dx="gamma * inv_std / b * (b * grad_output - grad_beta - x_hat * grad_gamma)")},
               "correct"),
    ],
    "conv2d": [
        Answer("the flipped kernel (a true convolution)", {"conv2d": CONV.format(
            stride="stride", weight="weight[:, :, ::-1, ::-1]", bias="")},
               "differs from the reference"),
        Answer("no bias", {"conv2d": CONV.format(stride="stride", weight="weight",
                                                 bias=" and False")}, "differs"),
        Answer("stride ignored", {"conv2d": CONV.format(stride="1", weight="weight", bias="")},
               "y for kernel 3, stride 2, padding 1 has shape"),
    ],
    "conv2d_backward_input": [
        Answer("the forward pass's padding instead of k - 1 - padding", {
            "conv2d_backward_input": CONV_BACKWARD_INPUT.format(
                before="padding", flipped="weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)")},
               "dL/dx for kernel 2, stride 2, padding 0 differs"),
        Answer("the kernel not flipped", {"conv2d_backward_input": CONV_BACKWARD_INPUT.format(
            before="k - 1 - padding", flipped="weight.transpose(1, 0, 2, 3)")},
               "dL/dx for kernel"),
        Answer("no dilation for the stride", {"conv2d_backward_input": """
            k, (h, w) = weight.shape[2], input_size
            before = k - 1 - padding
            dout = _pad(dout, before, h + k - 1 - before - dout.shape[2],
                        before, w + k - 1 - before - dout.shape[3])
            return conv2d(dout, weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))"""},
               "dL/dx for kernel 4, stride 3, padding 2 differs"),
        Answer("per kernel offset", {"conv2d_backward_input": """
            n, c_out, h_out, w_out = dout.shape
            k, (h, w) = weight.shape[2], input_size
            dx = np.zeros((n, weight.shape[1], h + 2 * padding + stride, w + 2 * padding + stride))
            for i in range(k):
                for j in range(k):
                    dx[:, :, i:i + stride * h_out:stride, j:j + stride * w_out:stride] += \\
                        np.einsum("nohw,oc->nchw", dout, weight[:, :, i, j])
            return dx[:, :, padding:padding + h, padding:padding + w]"""}, "correct"),
    ],
    "Conv2dModule.forward": [
        Answer("no bias", {"Conv2dModule.forward": CONV_FORWARD.format(
            weight="weight.reshape(c_out, -1)", bias="")}, "y = forward(x) (kernel 3, stride 2, "
                                                           "padding 1) differs"),
        Answer("the kernel flattened channels last", {"Conv2dModule.forward": CONV_FORWARD.format(
            weight="weight.transpose(0, 2, 3, 1).reshape(c_out, -1)", bias=" + bias")},
               "differs"),
        Answer("through conv2d", {"Conv2dModule.forward": """
            self.cols = im2col(x, k, self.stride, self.padding)
            return conv2d(x, weight, bias, self.stride, self.padding)"""}, "correct"),
    ],
    "Conv2dModule.backward": [
        Answer("the transposed weight gradient", {"Conv2dModule.backward": CONV_BACKWARD.format(
            dw="(self.cols.T @ rows).reshape(weight.shape)", db="sum", always="")},
               "grads['weight'] differs"),
        Answer("the bias gradient averaged", {"Conv2dModule.backward": CONV_BACKWARD.format(
            dw="(rows.T @ self.cols).reshape(weight.shape)", db="mean", always="")},
               "grads['bias'] differs"),
        Answer("input_grad ignored", {"Conv2dModule.backward": CONV_BACKWARD.format(
            dw="(rows.T @ self.cols).reshape(weight.shape)", db="sum", always=" and False")},
               "input_grad=False) must return None"),
    ],
    "MaxPool2dModule.forward": [
        Answer("padding with 0", {"MaxPool2dModule.forward": """
            k = self.kernel_size
            w = windows(x, k, self.stride, self.padding)
            w = w.reshape(*w.shape[:4], k * k)
            self.argmax = w.argmax(axis=-1)
            return np.take_along_axis(w, self.argmax[..., None], axis=-1)[..., 0]"""},
               "y (kernel 3, stride 2, padding 1) differs"),
        Answer("the average of each window", {"MaxPool2dModule.forward": """
            k = self.kernel_size
            w = windows(x, k, self.stride, self.padding, pad_value=-np.inf)
            w = w.reshape(*w.shape[:4], k * k)
            self.argmax = w.argmax(axis=-1)
            return np.where(np.isinf(w), 0, w).mean(axis=-1)"""}, "differs"),
        Answer("with loops", {"MaxPool2dModule.forward": POOL_KEEPS_X,
                              "MaxPool2dModule.backward": POOL_LOOP_BACKWARD.format(
                                  route=FIRST_ARGMAX, op="+=")}, "correct"),
    ],
    "MaxPool2dModule.backward": [
        Answer("the gradient to every tied maximum", {
            "MaxPool2dModule.backward": POOL_LOOP_BACKWARD.format(route=EVERY_MAX, op="+="),
            "MaxPool2dModule.forward": POOL_KEEPS_X},
               "dL/dx with tied maxima, each window's to its first arg-max differs", "tie"),
        Answer("overlapping windows overwrite (fancy indexing)", {"MaxPool2dModule.backward": """
            n, c, h, w = self.x_shape
            rows = np.arange(dout.shape[2])[:, None] * s + self.argmax // k
            cols = np.arange(dout.shape[3])[None, :] * s + self.argmax % k
            dx = np.zeros((n, c, h + 2 * p, w + 2 * p))
            images, channels = np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None]
            dx[images, channels, rows, cols] = dout
            return dx[:, :, p:p + h, p:p + w]"""}, "dL/dx differs"),
        Answer("overlapping windows overwrite, with loops", {
            "MaxPool2dModule.backward": POOL_LOOP_BACKWARD.format(route=FIRST_ARGMAX, op="="),
            "MaxPool2dModule.forward": POOL_KEEPS_X}, "dL/dx differs"),
        Answer("with loops", {
            "MaxPool2dModule.backward": POOL_LOOP_BACKWARD.format(route=FIRST_ARGMAX, op="+="),
            "MaxPool2dModule.forward": POOL_KEEPS_X}, "correct"),
    ],
    "DropoutModule.forward": [
        Answer("no rescaling", {"DropoutModule.forward": DROPOUT.format(
            keep=">=", scale="* 1.0", cast=".astype(x.dtype)")},
               "y (the kept units scaled by 1 / (1 - p)) differs"),
        Answer("float64 for float32 input", {"DropoutModule.forward": DROPOUT.format(
            keep=">=", scale="/ (1 - self.p)", cast="")},
               "forward returns float64 for a float32 input"),
        Answer("kept with probability p", {"DropoutModule.forward": DROPOUT.format(
            keep="<", scale="/ (1 - self.p)", cast=".astype(x.dtype)")},
               "differs"),
        Answer("scaled by 1 / p", {"DropoutModule.forward": DROPOUT.format(
            keep=">=", scale="/ self.p", cast=".astype(x.dtype)")}, "differs"),
    ],
    "DropoutModule.backward": [
        Answer("dout unchanged", {"DropoutModule.backward": "return dout"}, "dL/dx in training"),
        Answer("the mask without the scale", {"DropoutModule.backward": """
            return dout * (self.scale != 0)"""}, "dL/dx in training (with the forward pass's "
                                                 "mask and scale) differs"),
        Answer("a fresh mask", {"DropoutModule.backward": """
            return dout * (self.rng.random(dout.shape) >= self.p) / (1 - self.p)"""},
               "dL/dx in training"),
    ],
    "BatchNorm2dModule.forward": [
        Answer("unbiased variance to normalise", {"BatchNorm2dModule.forward": BN2D_FORWARD.format(
            ddof=", ddof=1", running_mean="(1 - self.momentum) * self.running_mean "
                                          "+ self.momentum * mean", running_var="var")},
               "y in training mode differs"),
        Answer("a biased running variance", {"BatchNorm2dModule.forward": BN2D_FORWARD.format(
            ddof="", running_mean="(1 - self.momentum) * self.running_mean "
                                  "+ self.momentum * mean", running_var="var")},
               "running_var after a step in training differs"),
        Answer("the momentum reversed", {"BatchNorm2dModule.forward": BN2D_FORWARD.format(
            ddof="", running_mean="self.momentum * self.running_mean "
                                  "+ (1 - self.momentum) * mean", running_var="var * m / (m - 1)")},
               "running_mean after"),
    ],
    "BatchNorm2dModule.backward": [
        Answer("dmu/dx without its mean term", {"BatchNorm2dModule.backward": BN2D_BACKWARD.format(
            m="dout.shape[0] * dout.shape[2] * dout.shape[3]", eval="", mean_term="")},
               "dL/dx in training differs"),
        Answer("m = N, not N H W", {"BatchNorm2dModule.backward": BN2D_BACKWARD.format(
            m="dout.shape[0]", eval="", mean_term=" - self.grads['bias'][:, None, None]")},
               "dL/dx in training differs"),
        Answer("the training formula in evaluation", {
            "BatchNorm2dModule.backward": BN2D_BACKWARD.format(
                m="dout.shape[0] * dout.shape[2] * dout.shape[3]", eval=" and False",
                mean_term=" - self.grads['bias'][:, None, None]")}, "dL/dx in evaluation differs"),
    ],
    "adam": [
        Answer("no bias correction", {"adam": adam(hats="m, v")},
               "w after step"),
        Answer("decoupled weight decay (AdamW)", {"adam": adam(
            decay_g="g", decay_w=" - lr * weight_decay * w")}, "differs"),
        Answer("eps inside the square root", {"adam": adam(sqrt_v="np.sqrt(v_hat + eps)")},
               "differs"),
        Answer("updates w, m, v in place", {"adam": """
            beta1, beta2 = betas
            g = g + weight_decay * w
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            w -= lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
            return w, m, v"""}, "changed its input w in place"),
        Answer("the textbook order of operations", {"adam": adam()}, "correct"),
    ],
}
