"""ShuffleNetV2 1.0x as a plain PyTorch module, built in code with random weights (no downloads).

Shapes follow Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture
Design" (2018), the 1.0x model: a strided 3x3 stem and max pooling, stages of 4-8-4 units at widths
116-232-464 (channel counts that are not powers of two), each unit splitting its channels in two,
transforming one half (1x1, depthwise 3x3, 1x1) and shuffling the halves back together; a 1x1
convolution to 1024 channels before the classifier.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
             relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    return [*layers, nn.ReLU()] if relu else layers


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    batch, channels, height, width = x.shape
    x = x.view(batch, groups, channels // groups, height, width).transpose(1, 2)
    return x.reshape(batch, channels, height, width)


class ShuffleUnit(nn.Module):
    """A unit: with stride 1, half the channels pass through and the other half are transformed;
    with stride 2, both halves are computed from the whole input (one by a depthwise path)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        half = cout // 2
        self.stride = stride
        self.shortcut = (nn.Sequential(*_conv_bn(cin, cin, 3, stride, groups=cin, relu=False),
                                       *_conv_bn(cin, half, 1))
                         if stride > 1 else nn.Identity())
        self.branch = nn.Sequential(*_conv_bn(cin if stride > 1 else half, half, 1),
                                    *_conv_bn(half, half, 3, stride, groups=half, relu=False),
                                    *_conv_bn(half, half, 1))

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            kept, transformed = x.chunk(2, dim=1)
            out = torch.cat((kept, self.branch(transformed)), dim=1)
        else:
            out = torch.cat((self.shortcut(x), self.branch(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    STAGES = ((116, 4), (232, 8), (464, 4))

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [*_conv_bn(3, 24, 3, 2), nn.MaxPool2d(3, 2, 1)]
        cin = 24
        for cout, repeats in self.STAGES:
            layers += [ShuffleUnit(cin if index == 0 else cout, cout, 2 if index == 0 else 1)
                       for index in range(repeats)]
            cin = cout
        layers += _conv_bn(cin, 1024, 1)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).mean((2, 3)))
