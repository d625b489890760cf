"""Inception-v3 as a plain PyTorch module, built in code with random weights (no downloads).

Layer shapes follow Szegedy et al., "Rethinking the Inception Architecture for Computer Vision"
(2015), as its reference implementation builds it for 3x299x299 images: factorised 7x7 (1x7 then
7x1) and 3x3 (1x3 beside 3x1) convolutions, pooling branches. The auxiliary classifier is used in
training only and is left out.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ConvBN(nn.Sequential):
    """Convolution, BatchNorm, ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(cout, eps=0.001), nn.ReLU())


def stem() -> nn.Sequential:
    """299x299x3 to 35x35x192 (unpadded but for one convolution): Inception-v3's stem, which
    Inception-ResNet-v2 shares."""
    return nn.Sequential(
        ConvBN(3, 32, 3, stride=2), ConvBN(32, 32, 3), ConvBN(32, 64, 3, padding=1), nn.MaxPool2d(3, 2),
        ConvBN(64, 80, 1), ConvBN(80, 192, 3), nn.MaxPool2d(3, 2))


def pool_branch(cin: int, cout: int, count_include_pad: bool = True) -> nn.Sequential:
    """Padded 3x3 average pooling, then a 1x1 convolution; ``count_include_pad`` False divides by
    the image's pixels only (Inception-v4's and Inception-ResNet-v2's), True by 9 (Inception-v3's)."""
    return nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=count_include_pad), ConvBN(cin, cout, 1))


class InceptionA(nn.Module):
    """35x35: 1x1, 5x5, double 3x3 and pooling branches."""

    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBN(cin, 64, 1)
        self.branch5x5 = nn.Sequential(ConvBN(cin, 48, 1), ConvBN(48, 64, 5, padding=2))
        self.branch3x3dbl = nn.Sequential(ConvBN(cin, 64, 1), ConvBN(64, 96, 3, padding=1),
                                          ConvBN(96, 96, 3, padding=1))
        self.branch_pool = pool_branch(cin, pool_features)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1x1(x), self.branch5x5(x), self.branch3x3dbl(x), self.branch_pool(x)], 1)


class InceptionB(nn.Module):
    """35x35 to 17x17: strided 3x3, strided double 3x3, max pooling."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = ConvBN(cin, 384, 3, stride=2)
        self.branch3x3dbl = nn.Sequential(ConvBN(cin, 64, 1), ConvBN(64, 96, 3, padding=1),
                                          ConvBN(96, 96, 3, stride=2))
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch3x3(x), self.branch3x3dbl(x), self.pool(x)], 1)


class InceptionC(nn.Module):
    """17x17: 7x7 convolutions factorised into 1x7 and 7x1."""

    def __init__(self, cin: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = ConvBN(cin, 192, 1)
        self.branch7x7 = nn.Sequential(ConvBN(cin, c7, 1), ConvBN(c7, c7, (1, 7), padding=(0, 3)),
                                       ConvBN(c7, 192, (7, 1), padding=(3, 0)))
        self.branch7x7dbl = nn.Sequential(
            ConvBN(cin, c7, 1), ConvBN(c7, c7, (7, 1), padding=(3, 0)),
            ConvBN(c7, c7, (1, 7), padding=(0, 3)), ConvBN(c7, c7, (7, 1), padding=(3, 0)),
            ConvBN(c7, 192, (1, 7), padding=(0, 3)))
        self.branch_pool = pool_branch(cin, 192)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1x1(x), self.branch7x7(x), self.branch7x7dbl(x), self.branch_pool(x)], 1)


class InceptionD(nn.Module):
    """17x17 to 8x8: strided 3x3 after 1x1, strided 3x3 after a factorised 7x7, max pooling."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = nn.Sequential(ConvBN(cin, 192, 1), ConvBN(192, 320, 3, stride=2))
        self.branch7x7x3 = nn.Sequential(
            ConvBN(cin, 192, 1), ConvBN(192, 192, (1, 7), padding=(0, 3)),
            ConvBN(192, 192, (7, 1), padding=(3, 0)), ConvBN(192, 192, 3, stride=2))
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch3x3(x), self.branch7x7x3(x), self.pool(x)], 1)


class InceptionE(nn.Module):
    """8x8: 3x3 convolutions factorised into 1x3 beside 3x1, their outputs concatenated."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBN(cin, 320, 1)
        self.branch3x3 = ConvBN(cin, 384, 1)
        self.branch3x3_a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl = nn.Sequential(ConvBN(cin, 448, 1), ConvBN(448, 384, 3, padding=1))
        self.branch3x3dbl_a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = pool_branch(cin, 192)

    def forward(self, x: Tensor) -> Tensor:
        wide = self.branch3x3(x)
        deep = self.branch3x3dbl(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_a(wide), self.branch3x3_b(wide),
                          self.branch3x3dbl_a(deep), self.branch3x3dbl_b(deep), self.branch_pool(x)], 1)


class InceptionV3(nn.Module):
    """Inception-v3 for 3x299x299 images."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = stem()
        self.blocks = nn.Sequential(
            InceptionA(192, 32), InceptionA(256, 64), InceptionA(288, 64), InceptionB(288),
            InceptionC(768, 128), InceptionC(768, 160), InceptionC(768, 160), InceptionC(768, 192),
            InceptionD(768), InceptionE(1280), InceptionE(2048))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))
