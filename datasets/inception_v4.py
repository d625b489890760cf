"""Inception-v4 as a plain PyTorch module, built in code with random weights (no downloads).

Layer shapes follow Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning" (2016), figures 3-9, for 3x299x299 images: a stem of unpadded
convolutions (149, 147, 73, 71, 35), four Inception-A blocks at 35x35, seven Inception-B blocks at
17x17 with 7x7 convolutions factorised into 1x7 and 7x1 of 192 to 256 channels, three
Inception-C blocks at 8x8 whose 3x3 convolutions split into 1x3 beside 3x1, and the two reduction
blocks between them. Its kernels are Inception-v3's kinds at other widths: what a ranker that
never saw Inception-v3 can learn those factorised windows from.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lorien.datasets.inception import ConvBN, pool_branch


class Stem(nn.Module):
    """299x299x3 to 35x35x384: three convolutions, then three splits of two branches each."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.Sequential(ConvBN(3, 32, 3, stride=2), ConvBN(32, 32, 3),
                                   ConvBN(32, 64, 3, padding=1))
        self.pool_a, self.conv_a = nn.MaxPool2d(3, 2), ConvBN(64, 96, 3, stride=2)
        self.branch_short = nn.Sequential(ConvBN(160, 64, 1), ConvBN(64, 96, 3))
        self.branch_long = nn.Sequential(ConvBN(160, 64, 1), ConvBN(64, 64, (1, 7), padding=(0, 3)),
                                         ConvBN(64, 64, (7, 1), padding=(3, 0)), ConvBN(64, 96, 3))
        self.conv_c, self.pool_c = ConvBN(192, 192, 3, stride=2), nn.MaxPool2d(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        x = self.convs(x)
        x = torch.cat([self.pool_a(x), self.conv_a(x)], 1)
        x = torch.cat([self.branch_short(x), self.branch_long(x)], 1)
        return torch.cat([self.conv_c(x), self.pool_c(x)], 1)


class InceptionA(nn.Module):
    """35x35x384: pooling, 1x1, 3x3 and double 3x3 branches of 96 channels each."""

    def __init__(self) -> None:
        super().__init__()
        self.branch_pool = pool_branch(384, 96, count_include_pad=False)
        self.branch1x1 = ConvBN(384, 96, 1)
        self.branch3x3 = nn.Sequential(ConvBN(384, 64, 1), ConvBN(64, 96, 3, padding=1))
        self.branch3x3dbl = nn.Sequential(ConvBN(384, 64, 1), ConvBN(64, 96, 3, padding=1),
                                          ConvBN(96, 96, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch_pool(x), self.branch1x1(x), self.branch3x3(x), self.branch3x3dbl(x)], 1)


class ReductionA(nn.Module):
    """35x35x384 to 17x17x1024 (k, l, m, n = 192, 224, 256, 384)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(3, 2)
        self.branch3x3 = ConvBN(384, 384, 3, stride=2)
        self.branch3x3dbl = nn.Sequential(ConvBN(384, 192, 1), ConvBN(192, 224, 3, padding=1),
                                          ConvBN(224, 256, 3, stride=2))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.pool(x), self.branch3x3(x), self.branch3x3dbl(x)], 1)


class InceptionB(nn.Module):
    """17x17x1024: pooling, 1x1, factorised 7x7 and double factorised 7x7 branches."""

    def __init__(self) -> None:
        super().__init__()
        self.branch_pool = pool_branch(1024, 128, count_include_pad=False)
        self.branch1x1 = ConvBN(1024, 384, 1)
        self.branch7x7 = nn.Sequential(ConvBN(1024, 192, 1), ConvBN(192, 224, (1, 7), padding=(0, 3)),
                                       ConvBN(224, 256, (7, 1), padding=(3, 0)))
        self.branch7x7dbl = nn.Sequential(
            ConvBN(1024, 192, 1), ConvBN(192, 192, (7, 1), padding=(3, 0)),
            ConvBN(192, 224, (1, 7), padding=(0, 3)), ConvBN(224, 224, (7, 1), padding=(3, 0)),
            ConvBN(224, 256, (1, 7), padding=(0, 3)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch_pool(x), self.branch1x1(x), self.branch7x7(x), self.branch7x7dbl(x)], 1)


class ReductionB(nn.Module):
    """17x17x1024 to 8x8x1536."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(3, 2)
        self.branch3x3 = nn.Sequential(ConvBN(1024, 192, 1), ConvBN(192, 192, 3, stride=2))
        self.branch7x7x3 = nn.Sequential(
            ConvBN(1024, 256, 1), ConvBN(256, 256, (1, 7), padding=(0, 3)),
            ConvBN(256, 320, (7, 1), padding=(3, 0)), ConvBN(320, 320, 3, stride=2))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.pool(x), self.branch3x3(x), self.branch7x7x3(x)], 1)


class InceptionC(nn.Module):
    """8x8x1536: pooling and 1x1 branches, and two branches that end in 1x3 beside 3x1."""

    def __init__(self) -> None:
        super().__init__()
        self.branch_pool = pool_branch(1536, 256, count_include_pad=False)
        self.branch1x1 = ConvBN(1536, 256, 1)
        self.branch3x3 = ConvBN(1536, 384, 1)
        self.branch3x3_a = ConvBN(384, 256, (1, 3), padding=(0, 1))
        self.branch3x3_b = ConvBN(384, 256, (3, 1), padding=(1, 0))
        self.branch3x3dbl = nn.Sequential(ConvBN(1536, 384, 1), ConvBN(384, 448, (3, 1), padding=(1, 0)),
                                          ConvBN(448, 512, (1, 3), padding=(0, 1)))
        self.branch3x3dbl_a = ConvBN(512, 256, (1, 3), padding=(0, 1))
        self.branch3x3dbl_b = ConvBN(512, 256, (3, 1), padding=(1, 0))

    def forward(self, x: Tensor) -> Tensor:
        wide = self.branch3x3(x)
        deep = self.branch3x3dbl(x)
        return torch.cat([self.branch_pool(x), self.branch1x1(x), self.branch3x3_a(wide),
                          self.branch3x3_b(wide), self.branch3x3dbl_a(deep), self.branch3x3dbl_b(deep)], 1)


class InceptionV4(nn.Module):
    """Inception-v4 for 3x299x299 images."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = Stem()
        self.blocks = nn.Sequential(
            *(InceptionA() for _ in range(4)), ReductionA(),
            *(InceptionB() for _ in range(7)), ReductionB(),
            *(InceptionC() for _ in range(3)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1536, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))
