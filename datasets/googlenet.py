"""GoogLeNet (Inception v1) as a plain PyTorch module, built in code with random weights.

Szegedy et al., "Going Deeper with Convolutions" (2014), as torchvision builds it for 3x224x224
images: batch norm after every convolution, nine Inception modules of four branches (1x1; 1x1
then 3x3; 1x1 then a second 3x3 where the paper has 5x5, as torchvision's reference does; 3x3
max pooling then 1x1) with the paper's uneven channel counts (16 to 384 a branch), ceil-mode
pooling between stages. The auxiliary classifiers are used in training only and are left out.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lorien.datasets.inception import ConvBN


class InceptionModule(nn.Module):
    """Four branches concatenated: ``ones`` 1x1; ``reduce3`` 1x1 then ``out3`` 3x3; ``reduce5``
    1x1 then ``out5`` 3x3; 3x3 max pooling then ``pool_proj`` 1x1."""

    def __init__(self, cin: int, ones: int, reduce3: int, out3: int, reduce5: int, out5: int,
                 pool_proj: int) -> None:
        super().__init__()
        self.branch1 = ConvBN(cin, ones, 1)
        self.branch2 = nn.Sequential(ConvBN(cin, reduce3, 1), ConvBN(reduce3, out3, 3, padding=1))
        self.branch3 = nn.Sequential(ConvBN(cin, reduce5, 1), ConvBN(reduce5, out5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), ConvBN(cin, pool_proj, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """GoogLeNet for 3x224x224 images."""

    #: Each Inception module's arguments after its input channels, and between them the window of
    #: each stride-2 max pool that halves the extent (torchvision's: 3 from 28 to 14, 2 from 14 to 7).
    MODULES = ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), 3,
               (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
               (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128), 2,
               (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128))

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            ConvBN(3, 64, 7, stride=2, padding=3), nn.MaxPool2d(3, 2, ceil_mode=True),
            ConvBN(64, 64, 1), ConvBN(64, 192, 3, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True),
        ]
        cin = 192
        for item in self.MODULES:
            if isinstance(item, int):
                layers.append(nn.MaxPool2d(item, 2, ceil_mode=True))
                continue
            layers.append(InceptionModule(cin, *item))
            ones, _, out3, _, out5, pool_proj = item
            cin = ones + out3 + out5 + pool_proj
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).mean((2, 3)))
