"""The VGG-style CNN of the report's section 4 (the original assignment's table).

Every conv is 3x3, stride 1, padding 1, followed by BatchNorm and ReLU; every max-pool is
3x3, stride 2, padding 1, so the spatial size goes 32 -> 16 -> 8 -> 4 -> 2 -> 1.

``n_models > 1`` builds that many *independent* networks side by side as grouped
convolutions: model ``g`` owns channels ``[g*C, (g+1)*C)`` of every layer, so one call
trains several seeds at once (a GPU runs them for little more than the cost of one).
With ``n_models=1`` it is the plain network.
"""

from __future__ import annotations

import torch
from collections import OrderedDict

from torch import nn

#: (name, in_channels, out_channels) of each conv, or (name, None, None) for a max-pool.
ARCHITECTURE = [
    ("conv1", 3, 64), ("maxpool1", None, None),
    ("conv2", 64, 128), ("maxpool2", None, None),
    ("conv3_a", 128, 256), ("conv3_b", 256, 256), ("maxpool3", None, None),
    ("conv4_a", 256, 512), ("conv4_b", 512, 512), ("maxpool4", None, None),
    ("conv5_a", 512, 512), ("conv5_b", 512, 512), ("maxpool5", None, None),
]


class ConvNet(nn.Module):
    """``ConvNet(n_channels, n_classes, batch_norm=True, n_models=1)``.

    Input ``[B, n_models * n_channels, 32, 32]`` (model ``g`` reads channels
    ``[g*n_channels, (g+1)*n_channels)``); output logits ``[B, n_classes]`` for one model,
    ``[B, n_models, n_classes]`` for several.
    """

    def __init__(self, n_channels: int = 3, n_classes: int = 10, batch_norm: bool = True,
                 n_models: int = 1):
        super().__init__()
        self.n_channels, self.n_classes, self.n_models = n_channels, n_classes, n_models
        self.batch_norm = batch_norm
        g = n_models
        layers: list[tuple[str, nn.Module]] = []
        for name, c_in, c_out in ARCHITECTURE:
            if c_in is None:
                layers.append((name, nn.MaxPool2d(kernel_size=3, stride=2, padding=1)))
                continue
            c_in = n_channels if name == "conv1" else c_in
            layers.append((name, nn.Conv2d(g * c_in, g * c_out, 3, stride=1, padding=1, groups=g)))
            if batch_norm:
                layers.append((f"{name}_bn", nn.BatchNorm2d(g * c_out)))
            layers.append((f"{name}_relu", nn.ReLU(inplace=True)))
        layers.append(("avgpool", nn.AvgPool2d(kernel_size=1, stride=1, padding=0)))
        self.features = nn.Sequential(OrderedDict(layers))
        # A 1x1 convolution on the 1x1 map is exactly the linear layer 512 -> n_classes;
        # written this way so that n_models copies share one grouped call.
        self.linear = nn.Conv2d(g * 512, g * n_classes, kernel_size=1, groups=g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.n_models * self.n_channels:
            raise ValueError(f"expected input [B, {self.n_models * self.n_channels}, H, W], "
                             f"got {list(x.shape)}")
        out = self.linear(self.features(x)).flatten(1)  # [B, n_models * n_classes]
        return out if self.n_models == 1 else out.view(len(x), self.n_models, self.n_classes)
