"""RegNetY-400MF as a plain PyTorch module, built in code with random weights (no downloads).

Radosavovic et al., "Designing Network Design Spaces" (2020): a network drawn from the RegNet
design space, whose stage widths grow linearly and are quantised to a geometric ladder. Its block
is a ResNeXt bottleneck without expansion: 1x1, a 3x3 convolution in groups of 8 channels,
squeeze-and-excitation to a quarter of the block's input channels (the "Y"), 1x1. The 400 MFLOP
model's four stages are 48, 104, 208 and 440 channels wide and 1, 3, 6 and 6 blocks deep, each
starting at stride 2, so its grouped convolutions have 6, 13, 26 and 55 groups of 8 channels
(ResNeXt-50's, the zoo's other grouped ones, have 32 groups of 4 to 32).
"""

from __future__ import annotations

from torch import Tensor, nn

from lorien.datasets.mbconv import SqueezeExcite, conv_bn


class RegNetBlock(nn.Module):
    """1x1, grouped 3x3 (``group_width`` channels a group, stride here), squeeze-and-excite, 1x1;
    the input (projected by a strided 1x1 when the shape changes) added, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, group_width: int, se_ratio: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn(cin, cout, 1, activation=nn.ReLU),
            conv_bn(cout, cout, 3, stride, groups=cout // group_width, activation=nn.ReLU),
            SqueezeExcite(cout, round(se_ratio * cin), nn.ReLU, nn.Sigmoid),
            conv_bn(cout, cout, 1),
        )
        self.shortcut = (conv_bn(cin, cout, 1, stride)
                         if stride != 1 or cin != cout else nn.Identity())
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.shortcut(x) + self.body(x))


class RegNetY(nn.Module):
    """A RegNetY: a 3x3 stride-2 stem of 32 channels, stages of :class:`RegNetBlock`, global
    average and a linear classifier. The defaults are RegNetY-400MF (3x224x224 images)."""

    def __init__(self, widths: tuple[int, ...] = (48, 104, 208, 440), depths: tuple[int, ...] = (1, 3, 6, 6),
                 group_width: int = 8, se_ratio: float = 0.25, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, activation=nn.ReLU)]
        cin = 32
        for width, depth in zip(widths, depths, strict=True):
            for index in range(depth):
                layers.append(RegNetBlock(cin, width, 2 if index == 0 else 1, group_width, se_ratio))
                cin = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))
