"""A LLaMA-style decoder in plain PyTorch with random weights: SmolLM-135M's shapes.

The architecture of LLaMA (Touvron et al., 2023) as small open models use it: pre-norm layers with
RMSNorm, rotary position embeddings on queries and keys, grouped-query attention (fewer key-value
heads than query heads), a gated SiLU MLP (SwiGLU), no biases, the language-model head tied to the
token embedding. Shapes of SmolLM-135M (Allal et al., 2024): 30 layers, hidden 576, 9 query heads
and 3 key-value heads of 64, MLP 1536, vocabulary 49152 (134,515,008 parameters). Channel counts
that are not powers of two, and kernels GPT-2's decoder does not have.

- :class:`LlamaPrefill` reads a prompt of ``seq`` tokens under a causal mask and returns the logits
  of every position;
- :class:`LlamaDecodeStep` generates one token per sequence after ``context`` cached keys and
  values of every layer (an input, as a generation loop keeps them).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lorien.datasets.attention import attend_heads, causal_mask

VOCAB = 49152
POSITIONS = 2048
ROPE_BASE = 10000.0


class RMSNorm(nn.Module):
    def __init__(self, hidden: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotary position embedding of ``x`` (batch x heads x tokens x head size) at the positions
    ``cos`` and ``sin`` (tokens x head size) were taken at."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class LlamaLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, kv_heads: int, mlp: int) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, hidden // heads
        self.norm1, self.norm2 = RMSNorm(hidden), RMSNorm(hidden)
        self.q = nn.Linear(hidden, hidden, bias=False)
        self.k = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.v = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.o = nn.Linear(hidden, hidden, bias=False)
        self.gate = nn.Linear(hidden, mlp, bias=False)
        self.up = nn.Linear(hidden, mlp, bias=False)
        self.down = nn.Linear(mlp, hidden, bias=False)

    def _split(self, x: Tensor, heads: int) -> Tensor:
        batch, tokens, _ = x.shape
        return x.reshape(batch, tokens, heads, self.head_dim).transpose(1, 2)

    def _shared(self, x: Tensor) -> Tensor:
        """Key-value heads repeated for the query heads that share them."""
        batch, kv_heads, tokens, head_dim = x.shape
        groups = self.heads // kv_heads
        return x.unsqueeze(2).expand(batch, kv_heads, groups, tokens, head_dim).reshape(
            batch, self.heads, tokens, head_dim)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, past: Tensor | None = None,
                mask: Tensor | None = None) -> Tensor:
        """``x``: batch x tokens x hidden; ``cos``/``sin``: the tokens' rotary tables; ``past``:
        2 x batch x key-value heads x context x head size."""
        h = self.norm1(x)
        q = _rotate(self._split(self.q(h), self.heads), cos, sin)
        k = _rotate(self._split(self.k(h), self.kv_heads), cos, sin)
        v = self._split(self.v(h), self.kv_heads)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        x = x + self.o(attend_heads(q, self._shared(k), self._shared(v), mask))
        h = self.norm2(x)
        return x + self.down(nn.functional.silu(self.gate(h)) * self.up(h))


class LlamaDecoder(nn.Module):
    cos: Tensor
    sin: Tensor

    def __init__(self, layers: int = 30, hidden: int = 576, heads: int = 9, kv_heads: int = 3,
                 mlp: int = 1536) -> None:
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, hidden)
        self.layers = nn.ModuleList(LlamaLayer(hidden, heads, kv_heads, mlp) for _ in range(layers))
        self.norm = RMSNorm(hidden)
        self.kv_heads, self.head_dim = kv_heads, hidden // heads
        inverse = ROPE_BASE ** -(torch.arange(0, self.head_dim, 2, dtype=torch.float32) / self.head_dim)
        angles = torch.outer(torch.arange(POSITIONS, dtype=torch.float32), inverse)
        angles = torch.cat((angles, angles), dim=-1)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def run(self, input_ids: Tensor, start: int, past: Tensor | None = None,
            mask: Tensor | None = None) -> Tensor:
        """Logits of ``input_ids`` at positions from ``start``; ``past``: layers x 2 x batch x
        key-value heads x ``start`` x head size."""
        positions = slice(start, start + input_ids.shape[1])
        cos, sin = self.cos[positions], self.sin[positions]
        x = self.tokens(input_ids)
        for index, layer in enumerate(self.layers):
            x = layer(x, cos, sin, None if past is None else past[index], mask)
        return torch.matmul(self.norm(x), self.tokens.weight.t())


class LlamaPrefill(nn.Module):
    """Logits of every position of a prompt (batch x seq token ids)."""

    mask: Tensor

    def __init__(self, seq: int) -> None:
        super().__init__()
        self.decoder = LlamaDecoder()
        self.register_buffer("mask", causal_mask(seq), persistent=False)

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.decoder.run(input_ids, 0, mask=self.mask)


class LlamaDecodeStep(nn.Module):
    """The next token's logits (batch x 1 x vocabulary) for one new token per sequence (batch x 1
    ids) after ``context`` cached ones (``past``: layers x 2 x batch x 3 x context x 64)."""

    def __init__(self) -> None:
        super().__init__()
        self.decoder = LlamaDecoder()

    def forward(self, input_ids: Tensor, past: Tensor) -> Tensor:
        return self.decoder.run(input_ids, past.shape[4], past=past)
