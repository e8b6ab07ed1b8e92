"""The skip-gram model: a center table `v` and a context table `u`, scored by dot products."""

from __future__ import annotations

import torch
from torch import nn


class SkipGram(nn.Module):
    def __init__(self, vocab_size: int, embed_size: int) -> None:
        super().__init__()
        self.embed_v = nn.Embedding(vocab_size, embed_size)
        self.embed_u = nn.Embedding(vocab_size, embed_size)
        nn.init.xavier_uniform_(self.embed_v.weight)
        nn.init.xavier_uniform_(self.embed_u.weight)

    def forward(self, center: torch.Tensor, contexts_and_negatives: torch.Tensor) -> torch.Tensor:
        """Scores of shape (batch, 1, slots): v[center] · u[slot] for each slot."""
        v = self.embed_v(center).unsqueeze(1)
        u = self.embed_u(contexts_and_negatives)
        # Same as the book's bmm(v, u^T); a broadcast product is several times faster on the CPU.
        return (v * u).sum(dim=-1).unsqueeze(1)
