"""Thin-plate-spline transforms fitted to keypoint pairs (TPSMM's ``TPS`` in mode 'kp', Eq. 2 of the paper).

For each of the K groups of 5 keypoints, a TPS T maps the driving points p_i near the source points q_i:
T(z) = A·z + t + Σ_i w_i · U(|z − p_i|²), U(r²) = r² ln r², fitted by solving the regularised system
[[U(|p_i − p_j|²), P], [Pᵀ, 0]] + 0.01·I  ·  [w; A, t] = [q; 0]  (0.01 on *every* diagonal entry, as the
official code, so T(p_i) ≈ q_i only: it is a smoothing spline).

The 8×8 system is solved by Gauss–Jordan elimination with partial pivoting, unrolled: exported graphs need it
(ONNX has no inverse or solve operator), and one solver on every backend gives them the same numbers. Pivoting
matters: the first diagonal entry is exactly 0.01, and elimination without it moves frames by 5e-4.
"""

from __future__ import annotations

import torch
from torch import Tensor

from animcli.models.blocks import float32_region, make_coordinate_grid

#: the regulariser added to the diagonal of the TPS system
REGULARIZER = 0.01
#: keeps the logarithm finite at zero distance (U(0) = 0)
LOG_EPSILON = 1e-9


def radial_basis(squared_distance: Tensor) -> Tensor:
    """U(r²) = r² ln(r² + 1e-9), the TPS kernel on squared distances."""
    return squared_distance * torch.log(squared_distance + LOG_EPSILON)


def radial_of_offsets(offsets: Tensor) -> Tensor:
    """U on the squared Euclidean length of (..., 2) offsets."""
    return radial_basis((offsets**2).sum(-1))


def solve_gauss_jordan(matrix: Tensor, rhs: Tensor) -> Tensor:
    """X with matrix·X = rhs for (..., n, n) and (..., n, m), by Gauss–Jordan with partial pivoting.

    Unrolled over the n columns with argmax, one-hot row swaps and broadcasting only, so it traces to plain
    ONNX operators. Row selections are one-hot products, exact for finite values.
    """
    n = matrix.shape[-1]
    augmented = torch.cat([matrix, rhs], dim=-1)
    rows = torch.arange(n, device=matrix.device)
    for column in range(n):
        magnitude = augmented[..., column].abs().masked_fill(rows < column, -1.0)
        pivot_row = (rows == magnitude.argmax(dim=-1, keepdim=True)).to(augmented.dtype)  # (..., n) one-hot
        current_row = (rows == column).to(augmented.dtype)
        pivot = (pivot_row[..., None, :] @ augmented).squeeze(-2)
        current = augmented[..., column, :]
        # swap: row `column` takes the pivot row, the pivot row takes row `column` (nothing moves if they agree)
        augmented = augmented + (current_row - pivot_row)[..., :, None] * (pivot - current)[..., None, :]
        normalised = pivot / pivot[..., column:column + 1]
        factors = augmented[..., column] * (1 - current_row)
        augmented = augmented - factors[..., :, None] * normalised[..., None, :]
        augmented = augmented + current_row[..., :, None] * (normalised - augmented[..., column, :])[..., None, :]
    return augmented[..., n:]


def system_matrix(control_points: Tensor) -> Tensor:
    """(..., N+3, N+3) regularised TPS system of (..., N, 2) control points."""
    n = control_points.shape[-2]
    kernel = radial_of_offsets(control_points[..., :, None, :] - control_points[..., None, :, :])
    affine = torch.cat([control_points, torch.ones_like(control_points[..., :1])], dim=-1)  # (..., N, 3)
    zeros = control_points.new_zeros(*control_points.shape[:-2], 3, 3)
    top = torch.cat([kernel, affine], dim=-1)
    bottom = torch.cat([affine.transpose(-1, -2), zeros], dim=-1)
    eye = torch.eye(n + 3, dtype=control_points.dtype, device=control_points.device)
    return torch.cat([top, bottom], dim=-2) + REGULARIZER * eye


class KeypointTps:
    """K thin-plate splines per sample, each fitted to one group of keypoint pairs (driving → source)."""

    def __init__(self, kp_driving: Tensor, kp_source: Tensor) -> None:
        """kp_driving, kp_source: (B, K, N, 2); kp_source may have batch 1 (one source for every frame)."""
        with float32_region(kp_driving):
            self.control_points = kp_driving.float()
            source = kp_source.float().expand_as(self.control_points)
            matrix = system_matrix(self.control_points)
            rhs = torch.cat([source, source.new_zeros(*source.shape[:-2], 3, 2)], dim=-2)
            params = solve_gauss_jordan(matrix, rhs)
        n = self.control_points.shape[-2]
        #: (B, K, N, 2) radial weights and (B, K, 2, 3) affine part [linear | translation]
        self.control_params = params[..., :n, :]
        self.theta = params[..., n:, :].transpose(-1, -2)

    def warp(self, coordinates: Tensor) -> Tensor:
        """(1 or B, M, 2) points → (B, K, M, 2): where each transform maps them."""
        with float32_region(coordinates):
            points = coordinates.float()[:, None]  # (B, 1, M, 2)
            affine = points @ self.theta[..., :2].transpose(-1, -2) + self.theta[..., None, :, 2]
            radial = radial_of_offsets(points[..., :, None, :] - self.control_points[..., None, :, :])
            return affine + radial @ self.control_params

    def transform_frame(self, height: int, width: int) -> Tensor:
        """(B, K, h, w, 2): for each pixel of a driving frame, where to sample the source."""
        grid = make_coordinate_grid((height, width), self.theta).reshape(1, height * width, 2)
        warped = self.warp(grid)
        return warped.reshape(*warped.shape[:2], height, width, 2)
