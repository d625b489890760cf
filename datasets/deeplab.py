"""DeepLabv3 with a ResNet-50 backbone as a plain PyTorch module, built in code with random weights
(no downloads).

Shapes follow Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation" (2017)
at output stride 16, the setting the paper evaluates for speed: ResNet-50's last stage keeps
the resolution of the one before and dilates its 3x3 convolutions by 2; Atrous Spatial Pyramid
Pooling (a 1x1 convolution, 3x3 convolutions dilated by 6, 12 and 18, and image-level pooling, 256
channels each, with BatchNorm) is projected to 256 channels, then a 3x3 convolution and a 1x1
convolution to the 21 classes of PASCAL VOC, bilinearly upsampled to the input's size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional

from lorien.datasets.resnet import Bottleneck, ResNet


def _conv_bn_relu(cin: int, cout: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel - 1) // 2
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=padding, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


class AtrousSpatialPyramidPooling(nn.Module):
    def __init__(self, in_channels: int, rates: tuple[int, ...], channels: int = 256) -> None:
        super().__init__()
        self.branches = nn.ModuleList([_conv_bn_relu(in_channels, channels, 1)]
                                      + [_conv_bn_relu(in_channels, channels, 3, rate) for rate in rates])
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), _conv_bn_relu(in_channels, channels, 1))
        self.project = _conv_bn_relu(channels * (len(rates) + 2), channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        pooled = functional.interpolate(self.image_pool(x), size=x.shape[-2:], mode="bilinear",
                                        align_corners=False)
        return self.project(torch.cat([branch(x) for branch in self.branches] + [pooled], dim=1))


class DeepLabV3(nn.Module):
    """Per-pixel scores of ``num_classes`` classes for 3 x H x W images (H, W multiples of 16)."""

    def __init__(self, num_classes: int = 21, rates: tuple[int, ...] = (6, 12, 18)) -> None:
        super().__init__()
        self.backbone = ResNet(Bottleneck, (3, 4, 6, 3), dilate=(False, False, True))
        self.aspp = AtrousSpatialPyramidPooling(self.backbone.out_channels, rates)
        self.head = nn.Sequential(_conv_bn_relu(256, 256, 3), nn.Conv2d(256, num_classes, 1))

    def forward(self, x: Tensor) -> Tensor:
        scores = self.head(self.aspp(self.backbone.features(x)))
        return functional.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)
