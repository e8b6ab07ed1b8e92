"""The book's masked sigmoid binary cross-entropy and the per-center loss it reports."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_bce(pred: torch.Tensor, label: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Row means of BCE-with-logits over all columns, padded columns weighted 0 (the book's SigmoidBCELoss)."""
    return F.binary_cross_entropy_with_logits(pred, label, weight=mask, reduction="none").mean(dim=1)


def center_loss(pred: torch.Tensor, label: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each center's mean loss over its real slots: the quantity the book prints (0.410 on PTB)."""
    return masked_bce(pred, label, mask) * mask.shape[1] / mask.sum(dim=1)
