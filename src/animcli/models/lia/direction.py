"""LIA's motion dictionary: a learned orthonormal basis of motion directions in latent space."""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: added to every entry before the QR, as the official code does (keeps the factorisation well defined).
QR_JITTER = 1e-8


class Direction(nn.Module):
    """Motion magnitudes α (B, M) → latent displacement Σ_i α_i q_i (B, D), with Q from a QR of ``weight``."""

    def __init__(self, rows: int, motion_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(rows, motion_dim))

    def basis(self) -> Tensor:
        """Q (D, M) of the reduced QR of the weight, in float32 even under autocast.

        Householder QR (LAPACK/cuSOLVER) does not force diag(R) > 0; the published models were trained with
        its sign convention, so a Gram–Schmidt basis would flip some directions.
        """
        with torch.autocast(self.weight.device.type, enabled=False):
            q, _ = torch.linalg.qr(self.weight.float() + QR_JITTER, mode="reduced")
        return q

    def forward(self, alpha: Tensor) -> Tensor:
        # Products then a sum over the directions: the official diag(α)·Qᵀ summation order, bit for bit.
        return (alpha.float()[:, :, None] * self.basis().T[None]).sum(dim=1)
