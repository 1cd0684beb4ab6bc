"""The random thin-plate-spline transform of the equivariance constraint (FOMM's and TPSMM's ``Transform``).

warp(z) = A·z + t + Σ_j c_j · φ(z − p_j)·[1, 1],
with A, t = [I | 0] + N(0, σ_affine) per sample and c ~ N(0, σ_tps) on a P×P grid of control points p_j
(row-major). The same TPS scalar is added to x and y, as in both official codes, which the published
checkpoints were trained with. The radial function φ of the offset differs: FOMM's is d² log(d + 1e-6) of the
L1 distance d (the default here), TPSMM's r² log(r² + 1e-9) of the squared Euclidean distance r².
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from animcli.models.blocks import grid_sample, make_coordinate_grid


def l1_radial(offsets: Tensor) -> Tensor:
    """FOMM's radial function of (..., 2) offsets: d² log(d + 1e-6), d the L1 distance."""
    distances = offsets.abs().sum(-1)
    return distances**2 * torch.log(distances + 1e-6)


class RandomTps:
    def __init__(self, theta: Tensor, control_points: Tensor | None = None, control_params: Tensor | None = None,
                 radial: Callable[[Tensor], Tensor] = l1_radial) -> None:
        """theta (B, 2, 3); control_points (1, P, P, 2); control_params (B, 1, P²) (both None: affine only);
        ``radial`` maps (..., 2) offsets from the control points to the TPS kernel's value."""
        self.theta = theta
        self.control_points = control_points
        self.control_params = control_params
        self.radial = radial

    @classmethod
    def sample(cls, batch_size: int, sigma_affine: float, sigma_tps: float | None = None,
               points_tps: int | None = None, device: torch.device | str = "cpu",
               radial: Callable[[Tensor], Tensor] = l1_radial) -> RandomTps:
        """Random draws in the official order: affine noise first, then the TPS control parameters."""
        identity = torch.eye(2, 3, device=device)
        theta = identity + torch.normal(0.0, sigma_affine, size=(batch_size, 2, 3), device=device)
        if not (sigma_tps and points_tps):
            return cls(theta, radial=radial)
        control_points = make_coordinate_grid((points_tps, points_tps), theta)[None]
        control_params = torch.normal(0.0, sigma_tps, size=(batch_size, 1, points_tps**2), device=device)
        return cls(theta, control_points, control_params, radial)

    def warp(self, coordinates: Tensor) -> Tensor:
        """(B or 1, N, 2) (x, y) points → (B, N, 2)."""
        coordinates = coordinates.float()
        theta = self.theta[:, None]
        warped = (theta[..., :2] @ coordinates[..., None]).squeeze(-1) + theta[..., 2]
        if self.control_points is None:
            return warped
        offsets = coordinates[:, :, None, :] - self.control_points.reshape(1, 1, -1, 2)
        radial = self.radial(offsets) * self.control_params
        return warped + radial.sum(dim=2)[..., None]

    def jacobian(self, coordinates: Tensor) -> Tensor:
        """(B, N, 2, 2) derivative of warp at each point; differentiable (create_graph) for the loss.

        ``coordinates`` must be part of an autograd graph (keypoints predicted by the detector).
        """
        warped = self.warp(coordinates)
        grad_x, = torch.autograd.grad(warped[..., 0].sum(), coordinates, create_graph=True)
        grad_y, = torch.autograd.grad(warped[..., 1].sum(), coordinates, create_graph=True)
        return torch.stack([grad_x, grad_y], dim=-2).float()

    def transform_frame(self, frame: Tensor) -> Tensor:
        """Resample frames (B, C, H, W) through the warp, reflecting at the borders."""
        batch, _, height, width = frame.shape
        grid = make_coordinate_grid((height, width), frame.float()).reshape(1, height * width, 2)
        grid = self.warp(grid).reshape(batch, height, width, 2)
        return grid_sample(frame, grid, padding_mode="reflection")
