"""Swin-T as a plain PyTorch module, built in code with random weights (no downloads).

Shapes follow Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted
Windows" (2021), the Tiny model: 3x224x224 images cut into 4x4 patches embedded in 96 channels;
four stages of 2, 2, 6 and 2 blocks at 96, 192, 384 and 768 channels (3, 6, 12 and 24 heads)
with patch merging (2x2 neighbours concatenated, LayerNorm, a linear layer to twice the channels)
between them; each block attends within 7x7 windows with a learned relative position bias,
every second block with the windows shifted by 3 (``torch.roll``, and a mask that keeps the
attention within each wrapped region), then a 4x MLP (GELU), both pre-norm. As in torchvision,
a stage whose map is no larger than a window (the last, 7x7) does not shift.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional


def _relative_position_index(window: int) -> Tensor:
    """For every pair of a window's positions, the row of the bias table of their offset."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return offsets[..., 0] * (2 * window - 1) + offsets[..., 1]


def _shift_mask(size: int, window: int, shift: int) -> Tensor:
    """Per window of a ``size`` x ``size`` map rolled by ``shift``: 0 between positions of the same
    region before the roll, -100 between positions the roll brought together."""
    regions = torch.zeros(size, size)
    bounds = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for label, (rows, cols) in enumerate((r, c) for r in bounds for c in bounds):
        regions[rows, cols] = label
    count = size // window
    windows = regions.view(count, window, count, window).permute(0, 2, 1, 3).reshape(-1, window ** 2)
    differs = windows[:, :, None] != windows[:, None, :]
    return torch.where(differs, torch.tensor(-100.0), torch.tensor(0.0))


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int, size: int) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.shift = shift if size > window else 0
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.02)
        self.register_buffer("bias_index", _relative_position_index(window).flatten(), persistent=False)
        self.register_buffer("mask", _shift_mask(size, window, self.shift) if self.shift else None,
                             persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """batch x H x W x channels -> the same."""
        batch, height, width, dim = x.shape
        window, tokens, head_dim = self.window, self.window ** 2, dim // self.heads
        if self.shift:
            x = torch.roll(x, (-self.shift, -self.shift), dims=(1, 2))
        windows = x.view(batch, height // window, window, width // window, window, dim)
        windows = windows.permute(0, 1, 3, 2, 4, 5).reshape(-1, tokens, dim)
        q, k, v = self.qkv(windows).reshape(-1, tokens, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        scores = torch.matmul(q * head_dim ** -0.5, k.transpose(-2, -1))
        bias = self.bias_table[self.bias_index].view(tokens, tokens, self.heads).permute(2, 0, 1)
        scores = scores + bias
        if self.mask is not None:
            count = self.mask.shape[0]
            scores = (scores.view(batch, count, self.heads, tokens, tokens) + self.mask[None, :, None])
            scores = scores.view(-1, self.heads, tokens, tokens)
        context = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(-1, tokens, dim)
        out = self.proj(context).view(batch, height // window, width // window, window, window, dim)
        out = out.permute(0, 1, 3, 2, 4, 5).reshape(batch, height, width, dim)
        if self.shift:
            out = torch.roll(out, (self.shift, self.shift), dims=(1, 2))
        return out


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int, size: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = WindowAttention(dim, heads, window, shift, size)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class SwinTransformer(nn.Module):
    """Swin-T classifying 3 x ``size`` x ``size`` images (``size`` a multiple of 224's windows)."""

    def __init__(self, size: int = 224, dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2),
                 heads: tuple[int, ...] = (3, 6, 12, 24), window: int = 7, num_classes: int = 1000) -> None:
        super().__init__()
        self.patches = nn.Conv2d(3, dim, 4, 4)
        self.patch_norm = nn.LayerNorm(dim)
        layers: list[nn.Module] = []
        resolution = size // 4
        for index, (depth, count) in enumerate(zip(depths, heads, strict=True)):
            if index > 0:
                layers.append(PatchMerging(dim))
                dim, resolution = dim * 2, resolution // 2
            layers += [SwinBlock(dim, count, window, 0 if block % 2 == 0 else window // 2, resolution)
                       for block in range(depth)]
        self.layers = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_norm(self.patches(x).permute(0, 2, 3, 1))
        x = self.norm(self.layers(x))
        return self.head(functional.adaptive_avg_pool2d(x.permute(0, 3, 1, 2), 1).flatten(1))
