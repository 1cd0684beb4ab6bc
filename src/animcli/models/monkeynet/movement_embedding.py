"""Movement embedding (paper §3.2): per-keypoint channels describing how the source must move to match a
driving frame — the keypoint heatmaps, the keypoint displacement and the source translated by it."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from animcli.models.blocks import grid_sample, kp2gaussian, make_coordinate_grid
from animcli.models.monkeynet.keypoint_detector import KeypointVariance
from animcli.models.monkeynet.resampling import nearest_rescale

Keypoints = dict[str, Tensor]  # official layout: mean (B, D, K, 2), var (B, D, K, 2, 2)


class MovementEmbedding(nn.Module):
    """Channels laid out keypoint-major: for each keypoint [heatmap, dx, dy, translated source (C)], only the
    enabled parts. ``add_bg_feature_map`` prepends a motionless background keypoint (zero heatmap and
    displacement, untranslated source). No parameters."""

    def __init__(self, num_kp: int, kp_variance: KeypointVariance, num_channels: int,
                 use_deformed_source_image: bool = False, use_difference: bool = False,
                 use_heatmap: bool = True, add_bg_feature_map: bool = False, heatmap_type: str = "gaussian",
                 norm_const: str | float = "sum", scale_factor: float = 1) -> None:
        super().__init__()
        if heatmap_type not in ("gaussian", "difference"):
            raise ValueError(f"heatmap_type must be 'gaussian' or 'difference', not {heatmap_type!r}")
        self.kp_variance = kp_variance
        self.use_heatmap = use_heatmap
        self.use_difference = use_difference
        self.use_deformed_source_image = use_deformed_source_image
        self.add_bg_feature_map = add_bg_feature_map
        self.heatmap_type = heatmap_type
        self.norm_const = norm_const
        self.scale_factor = scale_factor
        channels_per_kp = use_heatmap + 2 * use_difference + num_channels * use_deformed_source_image
        self.out_channels = channels_per_kp * (num_kp + add_bg_feature_map)

    def forward(self, source_image: Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> Tensor:
        """source_image (B, C, 1, H, W) → embedding (B, out_channels, D, h, w), D = driving frames."""
        source_image = nearest_rescale(source_image, self.scale_factor)
        size = tuple(source_image.shape[3:])
        parts = []  # each (B, D, K', c, h, w)
        if self.use_heatmap:
            parts.append(self._with_background(self.heatmaps(kp_driving, kp_source, size)).unsqueeze(3))
        displacement = self._with_background(kp_source["mean"] - kp_driving["mean"])  # B, D, K', 2
        if self.use_difference:
            parts.append(displacement[..., None, None].expand(*displacement.shape, *size))
        if self.use_deformed_source_image:
            parts.append(translated_sources(source_image, displacement))
        embedding = torch.cat(parts, dim=3).flatten(2, 3)
        return embedding.permute(0, 2, 1, 3, 4)

    def heatmaps(self, kp_driving: Keypoints, kp_source: Keypoints, size: tuple[int, int]) -> Tensor:
        heatmap = self._normalize(self._gaussian(kp_driving, size))
        if self.heatmap_type == "difference":
            heatmap = heatmap - self._normalize(self._gaussian(kp_source, size))
        return heatmap

    def _gaussian(self, kp: Keypoints, size: tuple[int, int]) -> Tensor:
        variance = kp["var"] if self.kp_variance in ("matrix", "single") else self.kp_variance
        return kp2gaussian(kp["mean"], size, variance)

    def _normalize(self, heatmap: Tensor) -> Tensor:
        if self.norm_const == "sum":
            return heatmap / heatmap.flatten(-2).sum(-1)[..., None, None]
        return heatmap / self.norm_const

    def _with_background(self, per_kp: Tensor) -> Tensor:
        """Prepend the background keypoint (all zeros) on the keypoint axis 2."""
        if not self.add_bg_feature_map:
            return per_kp
        background = torch.zeros_like(per_kp[:, :, :1])
        return torch.cat([background, per_kp], dim=2)


def translated_sources(source_image: Tensor, displacement: Tensor) -> Tensor:
    """The source (B, C, 1, h, w) translated so each source keypoint lands on its driving location:
    (B, D, K, C, h, w) for displacements (B, D, K, 2)."""
    batch, channels, _, h, w = source_image.shape
    copies = displacement.shape[1] * displacement.shape[2]
    grid = make_coordinate_grid((h, w), displacement) + displacement[:, :, :, None, None, :]
    repeated = source_image[:, None].expand(batch, copies, channels, 1, h, w).reshape(-1, channels, h, w)
    translated = grid_sample(repeated, grid.reshape(-1, h, w, 2))
    return translated.view(*displacement.shape[:3], channels, h, w)
