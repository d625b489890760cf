"""ResNet-18/50, ResNeXt-50 (32x4d) and Wide ResNet-50-2 as plain PyTorch modules, built in code
with random weights (no downloads).

The layer shapes follow He et al., "Deep Residual Learning for Image Recognition" (2015); Xie et
al., "Aggregated Residual Transformations for Deep Neural Networks" (2017: 32x4d, the bottleneck
twice as wide and its 3x3 convolution in 32 groups); and Zagoruyko and Komodakis, "Wide Residual
Networks" (2016: ResNet-50 with each bottleneck's inner width doubled). The weights are random
because Lorien tunes kernels, whose speed does not depend on the values.
"""

from __future__ import annotations

from torch import Tensor, nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1, groups: int = 1,
                 group_width: int = 64, dilation: int = 1) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        width = channels * group_width // 64 * groups
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, dilation, dilation=dilation, groups=groups,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A ResNet for ImageNet-sized inputs (3x224x224 -> ``num_classes``).

    ``dilate``: for each of the last three stages, whether it keeps its input's resolution,
    dilating its 3x3 convolutions instead of striding (Bottleneck only; as DeepLab's backbone,
    Chen et al. 2017: the first block keeps the previous dilation, the others double it).
    """

    def __init__(
        self, block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, int, int, int],
        num_classes: int = 1000, groups: int = 1, group_width: int = 64,
        dilate: tuple[bool, bool, bool] = (False, False, False),
    ) -> None:
        super().__init__()
        if block is BasicBlock and any(dilate):
            raise ValueError("only Bottleneck stages dilate")
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        stages: list[nn.Module] = []
        in_channels = 64
        dilation = 1
        for index, (channels, depth) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            blocks: list[nn.Module] = []
            first_dilation = dilation
            stride = 2 if index > 0 else 1
            if index > 0 and dilate[index - 1]:
                dilation, stride = dilation * 2, 1
            for position in range(depth):
                blocks.append(block(in_channels, channels, stride) if block is BasicBlock
                              else Bottleneck(in_channels, channels, stride, groups, group_width,
                                              first_dilation if position == 0 else dilation))
                in_channels = channels * block.expansion
                stride = 1
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)
        self.out_channels = in_channels

    def features(self, x: Tensor) -> Tensor:
        """The last stage's feature map (``out_channels`` channels)."""
        return self.stages(self.stem(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def resnet18() -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2))


def resnet50() -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3))


def resnext50_32x4d() -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), groups=32, group_width=4)


def wide_resnet50_2() -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), group_width=128)
