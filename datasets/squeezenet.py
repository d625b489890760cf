"""SqueezeNet 1.1 as a plain PyTorch module, built in code with random weights.

Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters" (2016), the 1.1
revision of its reference implementation (a 3x3 first convolution of 64 channels, pooling after
the first, third and fifth fire modules): fire modules of a 1x1 squeeze convolution feeding a 1x1
and a 3x3 expansion whose outputs are concatenated, no batch norm, and a 1x1 convolution to the
classes before a global average. Its unpadded stride-2 stem and ceil-mode pooling leave odd
extents, 111, 55, 27 and 13, which networks of 224x224 images rarely have.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Fire(nn.Module):
    """Squeeze to ``squeezed`` channels (1x1), expand to ``expanded`` by 1x1 and as many by 3x3,
    concatenated; ReLU after each convolution."""

    def __init__(self, cin: int, squeezed: int, expanded: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeezed, 1)
        self.expand1x1 = nn.Conv2d(squeezed, expanded, 1)
        self.expand3x3 = nn.Conv2d(squeezed, expanded, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.squeeze(x))
        return torch.cat([self.relu(self.expand1x1(x)), self.relu(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """SqueezeNet 1.1 for 3x224x224 images."""

    #: (input channels, squeezed, expanded) of each fire module; pooling after the 2nd and 4th.
    FIRES = ((64, 16, 64), (128, 16, 64), (128, 32, 128), (256, 32, 128), (256, 48, 192),
             (384, 48, 192), (384, 64, 256), (512, 64, 256))

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, 2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True)]
        for index, (cin, squeezed, expanded) in enumerate(self.FIRES):
            layers.append(Fire(cin, squeezed, expanded))
            if index in (1, 3):
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(512, num_classes, 1)
        # He initialisation (as the network is trained), then each convolution's bias centring
        # its output on a batch of random images (what batch norm's statistics do in the other
        # networks): with PyTorch's defaults the global average of uncentred ReLU outputs is
        # nearly the same whatever the image, and checking a build's outputs against PyTorch
        # would not notice a kernel that computes the wrong thing
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)
        self._centre_biases()

    def _centre_biases(self, size: int = 224) -> None:
        """Set each convolution's bias, in the order the network runs them, so that its output's
        mean per channel over a batch of two random ``size`` x ``size`` images is zero."""

        def centre(layer: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
            mean = output.mean((0, 2, 3))
            assert isinstance(layer, nn.Conv2d) and layer.bias is not None
            layer.bias -= mean
            return output - mean[None, :, None, None]

        hooks = [m.register_forward_hook(centre) for m in self.modules() if isinstance(m, nn.Conv2d)]
        with torch.no_grad():
            self(torch.randn(2, 3, size, size))
        for hook in hooks:
            hook.remove()

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.classifier(self.features(x))).mean((2, 3))
