"""U-Net as a plain PyTorch module, built in code with random weights (no downloads).

Shapes follow Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image
Segmentation" (2015): a contracting path of double 3x3 convolutions at 64-128-256-512-1024
channels with 2x2 max pooling between them, an expanding path of 2x2 transposed convolutions
(stride 2) whose outputs are concatenated with the contracting path's features, and a 1x1
convolution to the classes at every pixel. As it is usually deployed, its convolutions are padded
(the output has the input's size) and each is followed by BatchNorm.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor, nn


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = _double_conv(cin, cout)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.conv(torch.cat((skip, self.up(x)), dim=1))


class UNet(nn.Module):
    WIDTHS = (64, 128, 256, 512, 1024)

    def __init__(self, in_channels: int = 3, num_classes: int = 2) -> None:
        super().__init__()
        widths = self.WIDTHS
        self.stem = _double_conv(in_channels, widths[0])
        self.down = nn.ModuleList(nn.Sequential(nn.MaxPool2d(2), _double_conv(cin, cout))
                                  for cin, cout in pairwise(widths))
        self.up = nn.ModuleList(_Up(cin, cout)
                                for cin, cout in pairwise(widths[::-1]))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        skips = [self.stem(x)]
        for down in self.down:
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in self.up:
            x = up(x, skips.pop())
        return self.head(x)
