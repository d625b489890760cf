"""A GPT-2-style decoder (Radford et al., 2019, the 124M model) in plain PyTorch, random weights.

12 pre-norm layers, hidden 768, 12 heads, MLP 3072 (GELU), vocabulary 50257, 1024 positions, the
language-model head tied to the token embedding. Two ways it is used, two modules sharing one
decoder:

- :class:`GPT2Prefill` reads a prompt of ``seq`` tokens under a causal mask and returns the logits
  of every position;
- :class:`GPT2DecodeStep` generates: one new token per sequence attends to ``context`` cached keys
  and values of every layer (given as an input, as a generation loop keeps them), and returns the
  next token's logits. Its kernels are matrix-vector products and attention over the cache, what
  a generating model spends its time in.

Attention is written out with matmul and softmax (:func:`lorien.datasets.attention.attend`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lorien.datasets.attention import attend, causal_mask

VOCAB = 50257
POSITIONS = 1024


class DecoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * hidden, hidden))

    def forward(self, x: Tensor, past: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``x``: batch x tokens x hidden; ``past`` and ``mask`` as :func:`attend` takes them."""
        x = x + self.out(attend(self.qkv(self.norm1(x)), self.heads, past, mask))
        return x + self.mlp(self.norm2(x))


class Decoder(nn.Module):
    def __init__(self, layers: int = 12, hidden: int = 768, heads: int = 12) -> None:
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, hidden)
        self.positions = nn.Embedding(POSITIONS, hidden)
        self.hidden, self.heads = hidden, heads
        self.layers = nn.ModuleList(DecoderLayer(hidden, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)

    def logits(self, x: Tensor) -> Tensor:
        """The language-model head: the final norm, then scores against every token embedding."""
        return torch.matmul(self.norm(x), self.tokens.weight.t())


class GPT2Prefill(nn.Module):
    """Logits of every position of a prompt (batch x seq token ids)."""

    def __init__(self, seq: int) -> None:
        super().__init__()
        self.decoder = Decoder()
        self.register_buffer("mask", causal_mask(seq), persistent=False)

    def forward(self, input_ids: Tensor) -> Tensor:
        d = self.decoder
        x = d.tokens(input_ids) + d.positions(torch.arange(input_ids.shape[1]).unsqueeze(0))
        for layer in d.layers:
            x = layer(x, mask=self.mask)
        return d.logits(x)


class GPT2DecodeStep(nn.Module):
    """The next token's logits (batch x 1 x vocabulary) for one new token per sequence (batch x 1
    ids) after ``context`` cached ones (``past``: layers x 2 x batch x heads x context x 64)."""

    def __init__(self) -> None:
        super().__init__()
        self.decoder = Decoder()

    def forward(self, input_ids: Tensor, past: Tensor) -> Tensor:
        d = self.decoder
        position = torch.full_like(input_ids, past.shape[4])
        x = d.tokens(input_ids) + d.positions(position)
        for index, layer in enumerate(d.layers):
            x = layer(x, past=past[index])
        return d.logits(x)
