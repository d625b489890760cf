"""ViT-B/16 as a plain PyTorch module, built in code with random weights (no downloads).

Shapes follow Dosovitskiy et al., "An Image is Worth 16x16 Words" (2020): 3x224x224 images cut
into 196 patches of 16x16 by a strided convolution, a class token, learned positions, 12 pre-norm
encoder layers (hidden 768, 12 heads, MLP 3072, GELU). Attention is written out with matmul and
softmax (:func:`lorien.datasets.attention.attend`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lorien.datasets.attention import attend


class PreNormEncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden, eps=1e-6)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(hidden, mlp), nn.GELU(), nn.Linear(mlp, hidden))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.out(attend(self.qkv(self.norm1(x)), self.heads))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """A ViT classifying 3 x ``size`` x ``size`` images from the class token."""

    def __init__(self, size: int = 224, patch: int = 16, layers: int = 12, hidden: int = 768,
                 heads: int = 12, mlp: int = 3072, num_classes: int = 1000) -> None:
        super().__init__()
        self.patches = nn.Conv2d(3, hidden, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden))
        self.positions = nn.Parameter(torch.randn(1, (size // patch) ** 2 + 1, hidden) * 0.02)
        self.layers = nn.Sequential(*(PreNormEncoderLayer(hidden, heads, mlp) for _ in range(layers)))
        self.norm = nn.LayerNorm(hidden, eps=1e-6)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.patches(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.class_token.expand(x.shape[0], -1, -1), tokens], dim=1) + self.positions
        return self.head(self.norm(self.layers(tokens))[:, 0])


def vit_b16() -> VisionTransformer:
    return VisionTransformer()
