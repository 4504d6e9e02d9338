"""Losses of CERS: Dice + BCE on labelled images (MONAI `DiceLoss`), and the two decoders teaching
each other on unlabelled images with sharpened pseudo-labels, ramped in."""

from __future__ import annotations

import math

import torch
from monai.losses import DiceLoss
from torch import nn


class SupervisedLoss(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dice = DiceLoss(sigmoid=True)
        self.bce = nn.BCEWithLogitsLoss()

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.dice(logits, target) + self.bce(logits, target)


def sharpen(probability: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """p^(1/T) / (p^(1/T) + (1-p)^(1/T)): pushes a soft prediction towards 0 / 1 (T=1 leaves it)."""
    p = probability.clamp(1e-6, 1 - 1e-6)
    a, b = p.pow(1 / temperature), (1 - p).pow(1 / temperature)
    return a / (a + b)


def mutual_loss(plain_logits: torch.Tensor, mcam_logits: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Each decoder learns the other's sharpened prediction (no gradient into the target)."""
    plain, mcam = torch.sigmoid(plain_logits), torch.sigmoid(mcam_logits)
    target_for_mcam = sharpen(plain.detach(), temperature)
    target_for_plain = sharpen(mcam.detach(), temperature)
    return nn.functional.mse_loss(mcam, target_for_mcam) + nn.functional.mse_loss(plain, target_for_plain)


def ramp_weight(step: int, ramp_steps: int, maximum: float = 1.0) -> float:
    """The sigmoid ramp-up of Laine & Aila (2017): maximum * exp(-5 (1 - t)^2), t = step / ramp_steps."""
    if ramp_steps <= 0:
        return maximum
    t = min(max(step / ramp_steps, 0.0), 1.0)
    return maximum * math.exp(-5.0 * (1.0 - t) ** 2)
