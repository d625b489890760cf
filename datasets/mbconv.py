"""EfficientNet-B0 and -B3, MobileNetV3-Large and -Small and MnasNet-1.0 as plain PyTorch
modules, built in code with random weights: inverted residual blocks (with squeeze-and-excitation
but in MnasNet), the mobile networks people deploy.

Layer shapes follow the papers: Tan and Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks" (2019, Table 1, and B3's compound scaling: channels x1.2, repeats
x1.4, 300x300 images); Howard et al., "Searching for MobileNetV3" (2019, Tables 1 and 2, the Large
and Small models); Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for Mobile"
(2019), as its reference implementations build the 1.0 model: no squeeze-and-excitation, ReLU
throughout, 3x3 and 5x5 depthwise convolutions. Dropout and stochastic depth do nothing at
inference and are left out.
"""

from __future__ import annotations

import math

from torch import Tensor, nn


def _divisible(channels: float, divisor: int = 8) -> int:
    """``channels`` rounded to a multiple of ``divisor``, never below 90% of it (as both papers'
    reference implementations round channel counts)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
            activation: type[nn.Module] | None = None) -> nn.Sequential:
    """A convolution (padded to keep the extent at stride 1, no bias), batch norm, ``activation``."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """Channel attention: global average, a bottleneck of two 1x1 convolutions, a gate."""

    def __init__(self, channels: int, squeezed: int, activation: type[nn.Module],
                 gate: type[nn.Module]) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.activation = activation()
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.gate = gate()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(self.expand(self.activation(self.reduce(self.pool(x)))))


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise (k x k), squeeze-and-excite (optional), project (1x1); the input is
    added back when the shape is kept."""

    def __init__(self, cin: int, hidden: int, cout: int, kernel: int, stride: int,
                 squeeze: SqueezeExcite | None, activation: type[nn.Module]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if hidden != cin:
            layers.append(conv_bn(cin, hidden, 1, activation=activation))
        layers.append(conv_bn(hidden, hidden, kernel, stride, groups=hidden, activation=activation))
        if squeeze is not None:
            layers.append(squeeze)
        layers.append(conv_bn(hidden, cout, 1))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class EfficientNet(nn.Module):
    """EfficientNet scaled from B0: SiLU activations, squeeze-and-excite to a quarter of each
    block's input channels; every channel count times ``width`` (rounded to a multiple of 8), every
    stage's repeats times ``depth`` (rounded up). ``width = depth = 1`` is B0 (3x224x224 images).
    ``lite``: the edge variant, EfficientNet-Lite (ReLU6 in place of SiLU, no squeeze-and-excite),
    whose width 1 and depth 1 is Lite0."""

    #: B0's (expansion, kernel, stride, output channels, repeats) per stage.
    STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
              (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))

    def __init__(self, width: float = 1.0, depth: float = 1.0, num_classes: int = 1000,
                 lite: bool = False) -> None:
        super().__init__()
        if lite and (width, depth) != (1.0, 1.0):
            raise ValueError("EfficientNet-Lite is built at width 1 and depth 1 only (Lite0)")
        activation: type[nn.Module] = nn.ReLU6 if lite else nn.SiLU
        cin = _divisible(32 * width)
        layers: list[nn.Module] = [conv_bn(3, cin, 3, 2, activation=activation)]
        for expansion, kernel, stride, channels, repeats in self.STAGES:
            cout = _divisible(channels * width)
            for position in range(math.ceil(repeats * depth)):
                hidden = cin * expansion
                squeeze = None if lite else SqueezeExcite(hidden, max(1, cin // 4), nn.SiLU, nn.Sigmoid)
                layers.append(InvertedResidual(cin, hidden, cout, kernel, stride if position == 0 else 1,
                                               squeeze, activation))
                cin = cout
        head = 4 * cin
        layers.append(conv_bn(cin, head, 1, activation=activation))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


def efficientnet_b0() -> EfficientNet:
    """EfficientNet-B0, for 3x224x224 images."""
    return EfficientNet()


def efficientnet_lite0() -> EfficientNet:
    """EfficientNet-Lite0, for 3x224x224 images: B0's stages with ReLU6 (clipped) activations and
    no squeeze-and-excite, as its quantisation-friendly edge release."""
    return EfficientNet(lite=True)


def efficientnet_b3() -> EfficientNet:
    """EfficientNet-B3, for 3x300x300 images: spatial extents 150, 75, 38, 19 and 10, the odd
    ones a network at 224x224 never has."""
    return EfficientNet(width=1.2, depth=1.4)


class MobileNetV3(nn.Module):
    """MobileNetV3 for 3x224x224 images: inverted residual ``blocks``, hard-swish in the later
    ones, squeeze-and-excite (to a quarter of the expanded channels, rounded to a multiple of 8,
    hard-sigmoid gate) where the search put it; a 1x1 convolution to ``head`` channels, then a
    classifier with a hidden layer of ``hidden``. :meth:`large` and :meth:`small` are the paper's
    two models (Tables 1 and 2)."""

    #: (kernel, expanded channels, output channels, squeeze-and-excite, hard-swish, stride).
    Block = tuple[int, int, int, bool, bool, int]
    LARGE: tuple[Block, ...] = (
        (3, 16, 16, False, False, 1), (3, 64, 24, False, False, 2), (3, 72, 24, False, False, 1),
        (5, 72, 40, True, False, 2), (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1),
        (3, 240, 80, False, True, 2), (3, 200, 80, False, True, 1), (3, 184, 80, False, True, 1),
        (3, 184, 80, False, True, 1), (3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1),
        (5, 672, 160, True, True, 2), (5, 960, 160, True, True, 1), (5, 960, 160, True, True, 1))
    SMALL: tuple[Block, ...] = (
        (3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2), (3, 88, 24, False, False, 1),
        (5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
        (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1), (5, 288, 96, True, True, 2),
        (5, 576, 96, True, True, 1), (5, 576, 96, True, True, 1))

    def __init__(self, blocks: tuple[Block, ...], head: int, hidden: int, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 16, 3, 2, activation=nn.Hardswish)]
        cin = 16
        for kernel, expanded, cout, excite, hard_swish, stride in blocks:
            squeeze = (SqueezeExcite(expanded, _divisible(expanded / 4), nn.ReLU, nn.Hardsigmoid) if excite
                       else None)
            layers.append(InvertedResidual(cin, expanded, cout, kernel, stride, squeeze,
                                           nn.Hardswish if hard_swish else nn.ReLU))
            cin = cout
        layers.append(conv_bn(cin, head, 1, activation=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(head, hidden), nn.Hardswish(),
                                        nn.Linear(hidden, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))

    @classmethod
    def large(cls) -> MobileNetV3:
        """MobileNetV3-Large: 15 blocks, 960 channels before the pool, 1280 hidden."""
        return cls(cls.LARGE, 960, 1280)

    @classmethod
    def small(cls) -> MobileNetV3:
        """MobileNetV3-Small: 11 blocks (5x5 depthwise from the fourth on), 576 channels before the
        pool, 1024 hidden."""
        return cls(cls.SMALL, 576, 1024)


class MNASNet(nn.Module):
    """MnasNet-1.0 for 3x224x224 images: a depthwise-separable first block, then inverted
    residual stages with ReLU and no squeeze-and-excite, and a 1x1 convolution to 1280 channels."""

    #: (expansion, kernel, stride, output channels, repeats) per stage after the first block.
    STAGES = ((3, 3, 2, 24, 3), (3, 5, 2, 40, 3), (6, 5, 2, 80, 3), (6, 3, 1, 96, 2),
              (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, activation=nn.ReLU),
                                   conv_bn(32, 32, 3, groups=32, activation=nn.ReLU), conv_bn(32, 16, 1)]
        cin = 16
        for expansion, kernel, stride, cout, repeats in self.STAGES:
            for position in range(repeats):
                layers.append(InvertedResidual(cin, cin * expansion, cout, kernel,
                                               stride if position == 0 else 1, None, nn.ReLU))
                cin = cout
        layers.append(conv_bn(cin, 1280, 1, activation=nn.ReLU))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))
