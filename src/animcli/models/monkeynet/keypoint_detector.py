"""Monkey-Net's keypoint detector: an hourglass predicts one heatmap per keypoint; a Gaussian is fitted to
each (softmax) heatmap, giving the keypoint's mean and covariance (paper §3.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animcli.models.blocks import Hourglass, make_coordinate_grid
from animcli.models.monkeynet.resampling import nearest_rescale

KeypointVariance = str | float  # 'matrix', 'single' or a fixed isotropic variance

# Added to the softmax heatmap (not renormalised) so a one-pixel peak still has a non-zero covariance.
HEATMAP_EPS = 1e-7


def smallest_singular_value(matrix: Tensor) -> Tensor:
    """Closed-form smallest singular value of (..., 2, 2) matrices, in float64: s1 - s2 cancels badly in
    float32 for very anisotropic covariances."""
    m = matrix.double()
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    s1 = a**2 + b**2 + c**2 + d**2
    s2 = torch.sqrt((a**2 + b**2 - c**2 - d**2) ** 2 + 4 * (a * c + b * d) ** 2)
    return torch.sqrt((s1 - s2).clamp(min=0) / 2)


def clip_covariance(covariance: Tensor, min_singular_value: float) -> Tensor:
    """Rescale each covariance so its smallest singular value is at least ``min_singular_value``."""
    smallest = smallest_singular_value(covariance)[..., None, None]
    scale = smallest.clamp(min=min_singular_value) / smallest
    return (covariance.double() * scale).to(covariance.dtype)


def gaussian2kp(heatmap: Tensor, kp_variance: KeypointVariance = "matrix",
                clip_variance: float | None = None) -> dict[str, Tensor]:
    """Mean (B, D, K, 2) and, for 'matrix' / 'single', variance (B, D, K, 2, 2) / (B, D, K, 1, 1) of
    normalised heatmaps (B, K, D, h, w)."""
    weights = (heatmap.float() + HEATMAP_EPS).unsqueeze(-1)  # B, K, D, h, w, 1
    grid = make_coordinate_grid(heatmap.shape[3:], weights)
    mean = (weights * grid).sum(dim=(3, 4))  # B, K, D, 2
    kp = {"mean": mean.permute(0, 2, 1, 3)}
    centred = grid - mean[:, :, :, None, None, :]
    if kp_variance == "matrix":
        covariance = (centred.unsqueeze(-1) @ centred.unsqueeze(-2)) * weights.unsqueeze(-1)
        covariance = covariance.sum(dim=(3, 4)).permute(0, 2, 1, 3, 4)
        kp["var"] = clip_covariance(covariance, clip_variance) if clip_variance else covariance
    elif kp_variance == "single":
        variance = (centred**2 * weights).sum(dim=(3, 4)).mean(dim=-1, keepdim=True)
        kp["var"] = variance.unsqueeze(-1).permute(0, 2, 1, 3, 4)
    return kp


class KPDetector(nn.Module):
    """Keypoints of every frame of a video (B, C, D, H, W), each frame independently."""

    def __init__(self, block_expansion: int, num_kp: int, num_channels: int, max_features: int,
                 num_blocks: int, temperature: float, kp_variance: KeypointVariance, scale_factor: float = 1,
                 clip_variance: float | None = None) -> None:
        super().__init__()
        self.predictor = Hourglass(block_expansion, in_features=num_channels, out_features=num_kp,
                                   max_features=max_features, num_blocks=num_blocks, dims=3)
        self.temperature = temperature
        self.kp_variance = kp_variance
        self.scale_factor = scale_factor
        self.clip_variance = clip_variance

    def heatmap_logits(self, video: Tensor) -> Tensor:
        """Raw hourglass output (B, K, D, h, w) at the detector's working resolution."""
        return self.predictor(nearest_rescale(video, self.scale_factor))

    def forward(self, video: Tensor) -> dict[str, Tensor]:
        logits = self.heatmap_logits(video).float()  # the spatial softmax stays in float32 under autocast
        heatmap = F.softmax(logits.flatten(3) / self.temperature, dim=3).view(logits.shape)
        return gaussian2kp(heatmap, self.kp_variance, self.clip_variance)
