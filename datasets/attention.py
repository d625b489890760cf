"""Multi-head self-attention written out with matmul and softmax, shared by the zoo's transformers
(BERT, ViT, GPT-2, the LLaMA-style decoder), so every backend sees the same plain operators."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def attend(qkv: Tensor, heads: int, past: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
    """Attention of every token over the tokens (and ``past``) from the fused query-key-value
    projection ``qkv`` (batch x tokens x 3*hidden): the context, batch x tokens x hidden.

    ``past``: 2 x batch x heads x context x head size, cached keys and values attended to before
    the tokens' own; ``mask``: added to the attention scores (a causal mask).
    """
    batch, tokens, width = qkv.shape
    hidden = width // 3
    head_dim = hidden // heads
    q, k, v = qkv.reshape(batch, tokens, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    if past is not None:
        k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
    return attend_heads(q, k, v, mask)


def causal_mask(tokens: int) -> Tensor:
    """The mask :func:`attend` adds to the scores so that each of ``tokens`` positions attends
    to itself and those before it only (-inf above the diagonal)."""
    return torch.triu(torch.full((tokens, tokens), float("-inf")), diagonal=1)


def attend_heads(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """Attention of queries over keys and values already split into heads (batch x heads x
    tokens x head size, the keys and values over their own number of positions): the context,
    batch x tokens x heads * head size."""
    batch, heads, tokens, head_dim = q.shape
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(head_dim)
    if mask is not None:
        scores = scores + mask
    context = torch.matmul(torch.softmax(scores, dim=-1), v)
    return context.permute(0, 2, 1, 3).reshape(batch, tokens, heads * head_dim)
