"""A BERT-style transformer encoder (Devlin et al., 2018) in plain PyTorch, random weights.

``bert_base``: 12 layers, hidden 768, 12 heads, feed-forward 3072, vocabulary 30522. Attention is
written out with matmul and softmax (:func:`lorien.datasets.attention.attend`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lorien.datasets.attention import attend

VOCAB = 30522


class EncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, ffn), nn.GELU(), nn.Linear(ffn, hidden))
        self.norm2 = nn.LayerNorm(hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(x + self.out(attend(self.qkv(x), self.heads)))
        return self.norm2(x + self.ffn(x))


class BertEncoder(nn.Module):
    def __init__(self, layers: int = 12, hidden: int = 768, heads: int = 12, ffn: int = 3072,
                 vocab: int = VOCAB, max_positions: int = 512) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, hidden)
        self.positions = nn.Embedding(max_positions, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.Sequential(*(EncoderLayer(hidden, heads, ffn) for _ in range(layers)))

    def forward(self, input_ids: Tensor) -> Tensor:
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
        return self.layers(self.norm(self.tokens(input_ids) + self.positions(positions)))
