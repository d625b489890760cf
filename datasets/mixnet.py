"""MixNet-S and MixNet-M as plain PyTorch modules, built in code with random weights.

Tan and Le, "MixConv: Mixed Depthwise Convolutional Kernels" (2019): inverted residual blocks
whose depthwise convolution splits its channels into groups, each convolved with its own kernel
(3x3 to 11x11), and whose 1x1 expansion and projection may split the channels in two (a grouped
1x1 convolution). Layer shapes as the paper's Figure 7 and its reference implementation build the
two models at 224x224: ReLU in the first stages and SiLU (swish) from the 40-channel stage on,
squeeze-and-excitation to a fraction of each block's input channels in the swish stages, a 1x1
convolution to 1,536 channels before the pool. Every split of a mixed convolution is a depthwise
kernel of its own shape: MixNet-S holds depthwise convolutions of 29 shapes and MixNet-M of 31
(channels 16 to 480, kernels 3 to 11, extents 112 to 7), the kind of kernel the zoo's other
networks have least of and the ranker ranks worst.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lorien.datasets.mbconv import SqueezeExcite, conv_bn


def split_channels(channels: int, parts: int) -> list[int]:
    """``channels`` split into ``parts`` near-equal groups, the first taking the remainder."""
    sizes = [channels // parts] * parts
    sizes[0] += channels - sum(sizes)
    return sizes


class MixedConv(nn.Module):
    """A convolution of ``channels`` split into ``len(kernels)`` groups, group ``i`` convolved
    with a ``kernels[i]`` square kernel (padded to keep the extent at stride 1, no bias), the
    groups' outputs concatenated. ``depthwise`` convolves each channel alone; otherwise each group
    maps its share of the input to its share of ``cout``."""

    def __init__(self, cin: int, cout: int, kernels: tuple[int, ...], stride: int = 1,
                 depthwise: bool = False) -> None:
        super().__init__()
        self.splits = split_channels(cin, len(kernels))
        outs = self.splits if depthwise else split_channels(cout, len(kernels))
        self.convs = nn.ModuleList(
            nn.Conv2d(part_in, part_out, kernel, stride, kernel // 2, groups=part_in if depthwise else 1,
                      bias=False)
            for part_in, part_out, kernel in zip(self.splits, outs, kernels, strict=True))

    def forward(self, x: Tensor) -> Tensor:
        if len(self.convs) == 1:
            return self.convs[0](x)
        parts = x.split(self.splits, 1)
        return torch.cat([conv(part) for conv, part in zip(self.convs, parts, strict=True)], 1)


class MixBlock(nn.Module):
    """Expand (1x1, split in ``expand_groups``), mixed depthwise (``kernels``), squeeze-and-excite
    to ``round(cin * squeeze)`` channels (none when 0), project (1x1, split in ``project_groups``);
    the input added back when the shape is kept. Without expansion the block is the
    depthwise-separable one: depthwise, then project."""

    def __init__(self, cin: int, cout: int, kernels: tuple[int, ...], stride: int, expansion: int,
                 squeeze: float, swish: bool, expand_groups: int = 1, project_groups: int = 1) -> None:
        super().__init__()
        activation: type[nn.Module] = nn.SiLU if swish else nn.ReLU
        hidden = cin * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [MixedConv(cin, hidden, (1,) * expand_groups), nn.BatchNorm2d(hidden), activation()]
        layers += [MixedConv(hidden, hidden, kernels, stride, depthwise=True), nn.BatchNorm2d(hidden),
                   activation()]
        if squeeze:
            layers.append(SqueezeExcite(hidden, round(cin * squeeze), activation, nn.Sigmoid))
        layers += [MixedConv(hidden, cout, (1,) * project_groups), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) if self.residual else self.body(x)


#: A block: (depthwise kernels, stride, expansion, output channels, squeeze-and-excite ratio of the
#: input channels, swish, expansion split, projection split, repeats).
Block = tuple[tuple[int, ...], int, int, int, float, bool, int, int, int]

#: MixNet-S after its 16-channel stem.
SMALL: tuple[Block, ...] = (
    ((3,), 1, 1, 16, 0.0, False, 1, 1, 1),
    ((3,), 2, 6, 24, 0.0, False, 2, 2, 1), ((3,), 1, 3, 24, 0.0, False, 2, 2, 1),
    ((3, 5, 7), 2, 6, 40, 0.5, True, 1, 1, 1), ((3, 5), 1, 6, 40, 0.5, True, 2, 2, 3),
    ((3, 5, 7), 2, 6, 80, 0.25, True, 1, 2, 1), ((3, 5), 1, 6, 80, 0.25, True, 1, 2, 2),
    ((3, 5, 7), 1, 6, 120, 0.5, True, 2, 2, 1), ((3, 5, 7, 9), 1, 3, 120, 0.5, True, 2, 2, 2),
    ((3, 5, 7, 9, 11), 2, 6, 200, 0.5, True, 1, 1, 1), ((3, 5, 7, 9), 1, 6, 200, 0.5, True, 1, 2, 2),
)
#: MixNet-M after its 24-channel stem.
MEDIUM: tuple[Block, ...] = (
    ((3,), 1, 1, 24, 0.0, False, 1, 1, 1),
    ((3, 5, 7), 2, 6, 32, 0.0, False, 2, 2, 1), ((3,), 1, 3, 32, 0.0, False, 2, 2, 1),
    ((3, 5, 7, 9), 2, 6, 40, 0.5, True, 1, 1, 1), ((3, 5), 1, 6, 40, 0.5, True, 2, 2, 3),
    ((3, 5, 7), 2, 6, 80, 0.25, True, 1, 1, 1), ((3, 5, 7, 9), 1, 6, 80, 0.25, True, 2, 2, 3),
    ((3,), 1, 6, 120, 0.5, True, 1, 1, 1), ((3, 5, 7, 9), 1, 3, 120, 0.5, True, 2, 2, 3),
    ((3, 5, 7, 9), 2, 6, 200, 0.5, True, 1, 1, 1), ((3, 5, 7, 9), 1, 6, 200, 0.5, True, 1, 2, 3),
)


class MixNet(nn.Module):
    """MixNet for 3x224x224 images: a 3x3 stride-2 stem to ``stem`` channels (ReLU), ``blocks``,
    a 1x1 convolution to 1,536 channels (ReLU), the pool and the classifier."""

    def __init__(self, stem: int, blocks: tuple[Block, ...], num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, stem, 3, 2, activation=nn.ReLU)]
        cin = stem
        for kernels, stride, expansion, cout, squeeze, swish, expand_split, project_split, repeats in blocks:
            for position in range(repeats):
                layers.append(MixBlock(cin, cout, kernels, stride if position == 0 else 1, expansion, squeeze,
                                       swish, expand_split, project_split))
                cin = cout
        layers.append(conv_bn(cin, 1536, 1, activation=nn.ReLU))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(1536, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))

    @classmethod
    def small(cls) -> MixNet:
        """MixNet-S: 16 blocks, a 16-channel stem."""
        return cls(16, SMALL)

    @classmethod
    def medium(cls) -> MixNet:
        """MixNet-M: 19 blocks, a 24-channel stem, wider mixes earlier."""
        return cls(24, MEDIUM)
