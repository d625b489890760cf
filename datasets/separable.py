"""MobileNet (v1) and Xception as plain PyTorch modules, built in code with random weights.

The two networks that made the depthwise-separable convolution (a 3x3 convolution of each
channel alone, then a 1x1 convolution mixing them) the building block of efficient vision models:

- Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
  Applications" (2017), width 1.0 at 224x224 (its Table 1): a 3x3 stride-2 stem, then 13
  separable layers of 64 to 1,024 channels over even extents (112 to 7), batch norm and ReLU6
  after every convolution, as in the Keras reference implementation.
- Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions" (2017), at 299x299:
  an unpadded stem (149, then 147), three entry blocks that halve the extent (74, 37, 19) beside
  strided 1x1 shortcuts, eight middle blocks of 728 channels at 19x19, the exit at 10x10 widening
  to 2,048 channels. Its separable layers take ReLU before, not after (Keras' ``SeparableConv2D``
  has no bias; batch norm follows each). Odd extents over depthwise kernels: the two kinds of
  kernel the ranker finds hardest elsewhere (Inception-v3's, MobileNetV2's).
"""

from __future__ import annotations

from itertools import pairwise

from torch import Tensor, nn

from lorien.datasets.mbconv import conv_bn


def separable_bn(cin: int, cout: int) -> nn.Sequential:
    """A 3x3 depthwise convolution (padded to keep the extent), a 1x1 pointwise one, batch norm:
    Keras' ``SeparableConv2D`` with ``padding="same"`` and no bias, then ``BatchNormalization``."""
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))


class MobileNetV1(nn.Module):
    """MobileNet v1, width 1.0, for 3x224x224 images."""

    #: (output channels, stride) of each separable layer after the 32-channel stem.
    LAYERS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
              (512, 1), (512, 1), (1024, 2), (1024, 1))

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, activation=nn.ReLU6)]
        cin = 32
        for cout, stride in self.LAYERS:
            layers += [conv_bn(cin, cin, 3, stride, groups=cin, activation=nn.ReLU6),
                       conv_bn(cin, cout, 1, activation=nn.ReLU6)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).mean((2, 3)))


class XceptionBlock(nn.Module):
    """Separable layers from ``widths[0]`` through each of ``widths[1:]``, each after a ReLU (the
    first one's left out where ``relu_first`` is False); then either a 3x3 stride-2 max pool beside
    a strided 1x1 shortcut, or (``downsample`` False) the identity added back."""

    def __init__(self, widths: tuple[int, ...], downsample: bool, relu_first: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index, (cin, cout) in enumerate(pairwise(widths)):
            if index or relu_first:
                layers.append(nn.ReLU())
            layers.append(separable_bn(cin, cout))
        if downsample:
            layers.append(nn.MaxPool2d(3, 2, padding=1))
            self.shortcut: nn.Module = conv_bn(widths[0], widths[-1], 1, 2)
        else:
            self.shortcut = nn.Identity()
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.shortcut(x)


class Xception(nn.Module):
    """Xception for 3x299x299 images."""

    def __init__(self, num_classes: int = 1000, middle_blocks: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, 3, 2, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        )
        blocks = [XceptionBlock((64, 128, 128), True, relu_first=False),
                  XceptionBlock((128, 256, 256), True), XceptionBlock((256, 728, 728), True)]
        blocks += [XceptionBlock((728, 728, 728, 728), False) for _ in range(middle_blocks)]
        blocks.append(XceptionBlock((728, 728, 1024), True))
        self.blocks = nn.Sequential(*blocks)
        self.exit = nn.Sequential(separable_bn(1024, 1536), nn.ReLU(), separable_bn(1536, 2048), nn.ReLU())
        self.classifier = nn.Linear(2048, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.exit(self.blocks(self.stem(x))).mean((2, 3)))
