"""FOMM dense motion network: from K local affine transforms around keypoint pairs, predict per-pixel
soft assignments (masks) that blend them into one dense backward flow, plus an occlusion map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animcli.models.base import Motion
from animcli.models.blocks import (
    AntiAliasInterpolation2d,
    Hourglass,
    float32_region,
    grid_sample,
    inverse_2x2,
    kp2gaussian,
    make_coordinate_grid,
)


class DenseMotionNetwork(nn.Module):
    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_kp: int, num_channels: int,
                 estimate_occlusion_map: bool = False, scale_factor: float = 1, kp_variance: float = 0.01,
                 align_corners: bool = True) -> None:
        super().__init__()
        self.hourglass = Hourglass(block_expansion=block_expansion, in_features=(num_kp + 1) * (num_channels + 1),
                                   max_features=max_features, num_blocks=num_blocks)
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_kp + 1, kernel_size=(7, 7), padding=(3, 3))
        self.occlusion = (nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=(7, 7), padding=(3, 3))
                          if estimate_occlusion_map else None)
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.align_corners = align_corners
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def downsample(self, source_image: Tensor) -> Tensor:
        return self.down(source_image) if self.scale_factor != 1 else source_image

    def heatmap_representation(self, shape: tuple[int, int], kp_driving: Motion, kp_source: Motion) -> Tensor:
        """(B, K+1, 1, h, w): driving minus source Gaussians, a zero background channel first."""
        heatmap = (kp2gaussian(kp_driving["value"], shape, self.kp_variance)
                   - kp2gaussian(kp_source["value"], shape, self.kp_variance))
        background = torch.zeros_like(heatmap[:, :1])
        return torch.cat([background, heatmap], dim=1).unsqueeze(2)

    def sparse_motions(self, shape: tuple[int, int], kp_driving: Motion, kp_source: Motion) -> Tensor:
        """(B, K+1, h, w, 2): slot 0 identity, slot k+1 the first-order approximation around keypoint k."""
        value_driving = kp_driving["value"].float()
        identity = make_coordinate_grid(shape, value_driving)[None, None]  # 1,1,h,w,2
        coordinate = identity - value_driving[:, :, None, None]  # B,K,h,w,2
        if "jacobian" in kp_driving:
            with float32_region(value_driving):
                jacobian = kp_source["jacobian"].float() @ inverse_2x2(kp_driving["jacobian"].float())  # B,K,2,2
                coordinate = (jacobian[:, :, None, None] @ coordinate.unsqueeze(-1)).squeeze(-1)
        driving_to_source = coordinate + kp_source["value"].float()[:, :, None, None]
        b = value_driving.shape[0]
        return torch.cat([identity.expand(b, 1, *shape, 2), driving_to_source], dim=1)

    def deformed_sources(self, source_image: Tensor, sparse_motion: Tensor) -> Tensor:
        """(B, K+1, C, h, w): the source warped by every sparse motion."""
        b, slots, h, w, _ = sparse_motion.shape
        repeated = source_image.unsqueeze(1).expand(b, slots, *source_image.shape[1:]).reshape(b * slots, -1, h, w)
        deformed = grid_sample(repeated, sparse_motion.reshape(b * slots, h, w, 2), self.align_corners)
        return deformed.view(b, slots, -1, h, w)

    def forward(self, source_image: Tensor, kp_driving: Motion, kp_source: Motion) -> dict[str, Tensor]:
        return self.from_downsampled(self.downsample(source_image), kp_driving, kp_source)

    def from_downsampled(self, source_small: Tensor, kp_driving: Motion, kp_source: Motion) -> dict[str, Tensor]:
        """The network on an already downsampled source (so a run can downsample the source once)."""
        b = kp_driving["value"].shape[0]
        source_small = source_small.expand(b, *source_small.shape[1:])
        shape = (source_small.shape[2], source_small.shape[3])
        heatmap = self.heatmap_representation(shape, kp_driving, kp_source)
        sparse_motion = self.sparse_motions(shape, kp_driving, kp_source)
        deformed = self.deformed_sources(source_small, sparse_motion)
        hourglass_input = torch.cat([heatmap.to(deformed.dtype), deformed], dim=2).view(b, -1, *shape)
        prediction = self.hourglass(hourglass_input)
        mask = F.softmax(self.mask(prediction).float(), dim=1)
        deformation = (mask.unsqueeze(-1) * sparse_motion.float()).sum(dim=1)
        out = {"sparse_deformed": deformed, "mask": mask, "deformation": deformation}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction).float())
        return out
