"""ConvNeXt-T as a plain PyTorch module, built in code with random weights (no downloads).

Shapes follow Liu et al., "A ConvNet for the 2020s" (2022), the Tiny model: a 4x4 patchify stem,
stages of depth 3-3-9-3 at widths 96-192-384-768, each block a depthwise 7x7 convolution, a
LayerNorm over channels, an inverted bottleneck (4x, GELU) of linear layers and a learned
per-channel scale; LayerNorm and a strided 2x2 convolution between stages.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ChannelsFirstLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(channels, 4 * channels), nn.GELU(),
                                 nn.Linear(4 * channels, channels))
        # the paper initialises the scale to 1e-6; random values keep every kernel visible in
        # the outputs
        self.scale = nn.Parameter(torch.rand(channels) * 0.5 + 0.5)

    def forward(self, x: Tensor) -> Tensor:
        y = self.mlp(self.norm(self.depthwise(x).permute(0, 2, 3, 1))) * self.scale
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """A ConvNeXt for 3x224x224 images."""

    def __init__(self, depths: tuple[int, ...] = (3, 3, 9, 3), widths: tuple[int, ...] = (96, 192, 384, 768),
                 num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 4, 4), ChannelsFirstLayerNorm(widths[0], eps=1e-6)]
        for stage, (depth, width) in enumerate(zip(depths, widths, strict=True)):
            if stage > 0:
                layers += [ChannelsFirstLayerNorm(widths[stage - 1], eps=1e-6),
                           nn.Conv2d(widths[stage - 1], width, 2, 2)]
            layers += [ConvNeXtBlock(width) for _ in range(depth)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.LayerNorm(widths[-1], eps=1e-6)
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.norm(self.pool(self.features(x)).flatten(1)))


def convnext_tiny() -> ConvNeXt:
    return ConvNeXt()
