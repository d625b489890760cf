"""Inception-ResNet-v2 as a plain PyTorch module, built in code with random weights (no downloads).

Layer shapes follow Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning" (2016), figures 3 and 15-19, as its reference implementation builds it
for 3x299x299 images: Inception-v3's stem to 35x35x192, a mixed block to 320 channels, then ten
residual Inception blocks at 35x35, twenty at 17x17 (a 1x7 then 7x1 convolution of 128 to 192
channels beside a 1x1) and ten at 8x8 (1x3 then 3x1, 192 to 256 channels), each branch
concatenation projected back to the trunk's width by a 1x1 convolution with a bias, scaled and
added to the trunk. Its kernels are the factorised windows of Inception-v3 and -v4 at other widths,
with residual additions after them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lorien.datasets.inception import ConvBN, pool_branch, stem


class Mixed5b(nn.Module):
    """35x35x192 to 35x35x320: 1x1, 5x5, double 3x3 and pooling branches."""

    def __init__(self) -> None:
        super().__init__()
        self.branch1x1 = ConvBN(192, 96, 1)
        self.branch5x5 = nn.Sequential(ConvBN(192, 48, 1), ConvBN(48, 64, 5, padding=2))
        self.branch3x3dbl = nn.Sequential(ConvBN(192, 64, 1), ConvBN(64, 96, 3, padding=1),
                                          ConvBN(96, 96, 3, padding=1))
        self.branch_pool = pool_branch(192, 64, count_include_pad=False)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1x1(x), self.branch5x5(x), self.branch3x3dbl(x), self.branch_pool(x)], 1)


class Residual(nn.Module):
    """``relu(x + scale * project(cat(branches(x))))``, the ReLU left out of the network's last block."""

    def __init__(self, branches: list[nn.Module], concatenated: int, width: int, scale: float,
                 relu: bool = True) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.project = nn.Conv2d(concatenated, width, 1)
        self.scale = scale
        self.relu = nn.ReLU() if relu else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.project(torch.cat([branch(x) for branch in self.branches], 1))
        return self.relu(x + self.scale * out)


def block35() -> Residual:
    """35x35x320: 1x1, 3x3 and double 3x3 branches of 32 to 64 channels."""
    return Residual([ConvBN(320, 32, 1), nn.Sequential(ConvBN(320, 32, 1), ConvBN(32, 32, 3, padding=1)),
                     nn.Sequential(ConvBN(320, 32, 1), ConvBN(32, 48, 3, padding=1),
                                   ConvBN(48, 64, 3, padding=1))],
                    128, 320, 0.17)


def block17() -> Residual:
    """17x17x1088: a 1x1 branch beside a factorised 7x7 (1x7 then 7x1)."""
    return Residual([ConvBN(1088, 192, 1),
                     nn.Sequential(ConvBN(1088, 128, 1), ConvBN(128, 160, (1, 7), padding=(0, 3)),
                                   ConvBN(160, 192, (7, 1), padding=(3, 0)))],
                    384, 1088, 0.10)


def block8(scale: float = 0.20, relu: bool = True) -> Residual:
    """8x8x2080: a 1x1 branch beside a factorised 3x3 (1x3 then 3x1)."""
    return Residual([ConvBN(2080, 192, 1),
                     nn.Sequential(ConvBN(2080, 192, 1), ConvBN(192, 224, (1, 3), padding=(0, 1)),
                                   ConvBN(224, 256, (3, 1), padding=(1, 0)))],
                    448, 2080, scale, relu)


class Mixed6a(nn.Module):
    """35x35x320 to 17x17x1088: strided 3x3, strided double 3x3, max pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.branch3x3 = ConvBN(320, 384, 3, stride=2)
        self.branch3x3dbl = nn.Sequential(ConvBN(320, 256, 1), ConvBN(256, 256, 3, padding=1),
                                          ConvBN(256, 384, 3, stride=2))
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch3x3(x), self.branch3x3dbl(x), self.pool(x)], 1)


class Mixed7a(nn.Module):
    """17x17x1088 to 8x8x2080: three strided 3x3 branches and max pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.branch_a = nn.Sequential(ConvBN(1088, 256, 1), ConvBN(256, 384, 3, stride=2))
        self.branch_b = nn.Sequential(ConvBN(1088, 256, 1), ConvBN(256, 288, 3, stride=2))
        self.branch_c = nn.Sequential(ConvBN(1088, 256, 1), ConvBN(256, 288, 3, padding=1),
                                      ConvBN(288, 320, 3, stride=2))
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch_a(x), self.branch_b(x), self.branch_c(x), self.pool(x)], 1)


class InceptionResNetV2(nn.Module):
    """Inception-ResNet-v2 for 3x299x299 images."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = stem()
        self.blocks = nn.Sequential(
            Mixed5b(), *(block35() for _ in range(10)), Mixed6a(), *(block17() for _ in range(20)),
            Mixed7a(), *(block8() for _ in range(9)), block8(scale=1.0, relu=False), ConvBN(2080, 1536, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1536, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))
