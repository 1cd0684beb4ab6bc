"""LIA's motion dictionary: a learned orthonormal basis of motion directions in latent space."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from animcli.models.blocks import float32_region
from animcli.models.lia.layers import at_least_float32

#: added to every entry before the QR, as the official code does (keeps the factorisation well defined).
QR_JITTER = 1e-8


class Direction(nn.Module):
    """Motion magnitudes α (B, M) → latent displacement Σ_i α_i q_i (B, D), with Q from a QR of ``weight``."""

    def __init__(self, rows: int, motion_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(rows, motion_dim))

    def basis(self) -> Tensor:
        """Q (D, M) of the reduced QR of the weight, at least float32 even under autocast.

        Householder QR (LAPACK/cuSOLVER) does not force diag(R) > 0; the published models were trained with
        its sign convention, so a Gram–Schmidt basis would flip some directions.
        """
        with float32_region(self.weight):
            q, _ = torch.linalg.qr(at_least_float32(self.weight) + QR_JITTER, mode="reduced")
        return q

    def forward(self, alpha: Tensor, basis: Tensor | None = None) -> Tensor:
        """``basis``: Q computed beforehand (inference computes it once per run, since it depends on the weights
        only); None computes it here (training, where the weight changes every step)."""
        basis = self.basis() if basis is None else basis
        # Products then a sum over the directions: the official diag(α)·Qᵀ summation order, bit for bit.
        return (at_least_float32(alpha)[:, :, None] * basis.T[None]).sum(dim=1)

    def navigate(self, code: Tensor, alpha_driving: Tensor | None = None, alpha_start: Tensor | None = None,
                 alpha_source: Tensor | None = None, basis: Tensor | None = None) -> Tensor:
        """The latent every decoder layer is styled with.

        no motion: ``code``; absolute: code + D(α_driving); relative (``alpha_start`` and ``alpha_source`` given):
        code + (D(α_driving) − D(α_start)) + D(α_source) — the driving motion since its first frame, applied
        on top of the source's own motion (in the official code's order of float additions).
        """
        if alpha_driving is None:
            return code
        if alpha_start is None or alpha_source is None:
            return code + self(alpha_driving, basis)
        return code + (self(alpha_driving, basis) - self(alpha_start, basis)) + self(alpha_source, basis)
