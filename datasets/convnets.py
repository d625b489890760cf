"""MobileNetV2, AlexNet, VGG-16 and DenseNet-121 as plain PyTorch modules, built in code with random
weights.

Layer shapes follow the papers: Sandler et al., "MobileNetV2" (2018); Krizhevsky, "One weird trick
for parallelizing convolutional neural networks" (2014: the single-tower AlexNet, 64-192-384-256-256
channels); Simonyan and Zisserman, "Very Deep Convolutional Networks" (2014, configuration D); Huang
et al., "Densely Connected Convolutional Networks" (2017, growth rate 32, blocks 6-12-24-16).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lorien.datasets.mbconv import InvertedResidual, conv_bn


class MobileNetV2(nn.Module):
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, activation=nn.ReLU6)]
        cin = 32
        for expand, cout, repeats, stride in self.SETTINGS:
            for index in range(repeats):
                layers.append(InvertedResidual(cin, cin * expand, cout, 3, stride if index == 0 else 1,
                                               None, nn.ReLU6))
                cin = cout
        layers.append(conv_bn(cin, 1280, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).mean((2, 3)))


def he_initialise(module: nn.Module) -> None:
    """He-initialise ``module``'s convolutions and dense layers, zeroing their biases (as plain ReLU
    stacks are trained): with PyTorch's default, activations fade through a deep plain stack and
    the outputs hardly depend on the input."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def dense_head(inputs: int, num_classes: int) -> nn.Sequential:
    """AlexNet's and VGG's classifier: two 4096-wide dense layers with ReLU, then the classes'."""
    return nn.Sequential(
        nn.Linear(inputs, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, num_classes),
    )


class AlexNet(nn.Module):
    """Five convolutions (11x11 stride 4, 5x5, three 3x3) over 55, 27 and 13 pixel maps, three 3x3
    stride-2 max-pools and three dense layers (9216 -> 4096 -> 4096 -> classes)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        )
        self.classifier = dense_head(256 * 6 * 6, num_classes)
        he_initialise(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


class VGG16(nn.Module):
    CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for item in self.CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(item), 3, padding=1), nn.ReLU()]
                cin = int(item)
        self.features = nn.Sequential(*layers)
        self.classifier = dense_head(512 * 7 * 7, num_classes)
        he_initialise(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, 4 * growth, 1, bias=False),
            nn.BatchNorm2d(4 * growth), nn.ReLU(), nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.body(x)], 1)


class DenseNet121(nn.Module):
    def __init__(self, growth: int = 32, blocks: tuple[int, ...] = (6, 12, 24, 16),
                 num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        ]
        channels = 64
        for index, depth in enumerate(blocks):
            for _ in range(depth):
                layers.append(DenseLayer(channels, growth))
                channels += growth
            if index < len(blocks) - 1:
                layers += [nn.BatchNorm2d(channels), nn.ReLU(),
                           nn.Conv2d(channels, channels // 2, 1, bias=False), nn.AvgPool2d(2, 2)]
                channels //= 2
        layers += [nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).mean((2, 3)))
