"""TPSMM dense motion network: from K thin-plate-spline transforms (and a background transform), predict soft
per-pixel contribution maps that blend them into one backward flow, plus occlusion maps at four resolutions.

Differences from FOMM's network worth knowing: all heatmaps come first in the hourglass input (one per keypoint,
then the deformed sources slot by slot); the norm layers are InstanceNorm; the occlusion maps are taken from the
last two hourglass levels and from extra up-blocks, one per resolution of the inpainting network's features.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animcli.models.base import Motion
from animcli.models.blocks import (
    AntiAliasInterpolation2d,
    Hourglass,
    UpBlock,
    float32_region,
    grid_sample,
    kp2gaussian,
    make_coordinate_grid,
)
from animcli.models.tpsmm.keypoint_detector import POINTS_PER_TPS
from animcli.models.tpsmm.tps import KeypointTps

#: occlusion maps of a multi-mask network: one per inpainting resolution (the official constant)
OCCLUSION_MAPS = 4
#: keeps dropout_softmax finite when every slot but the background is dropped
DROPOUT_EPSILON = 1e-6


def dropout_softmax(logits: Tensor, p: float, draw: Tensor | None = None) -> Tensor:
    """Softmax over slots (dim 1) with whole non-background slots dropped with probability ``p`` (Eq. 7–8).

    ``draw`` (B, slots) is the uniform draw deciding which slots survive (drawn here when not given).
    """
    if draw is None:
        draw = torch.rand(logits.shape[:2], device=logits.device)
    keep = (draw < 1 - p).to(logits.dtype)
    keep[:, 0] = 1  # the background slot is never dropped
    weights = torch.exp(logits - logits.max(dim=1, keepdim=True).values) * keep[..., None, None]
    return weights / (weights.sum(dim=1, keepdim=True) + DROPOUT_EPSILON)


def background_grid(shape: tuple[int, int], batch: int, bg_param: Tensor | None, like: Tensor) -> Tensor:
    """(B, 1, h, w, 2): the identity grid, moved by the (B, 3, 3) background affine when there is one."""
    grid = make_coordinate_grid(shape, like)[None, None]
    if bg_param is None:
        return grid.expand(batch, 1, *shape, 2)
    homogeneous = torch.cat([grid, torch.ones_like(grid[..., :1])], dim=-1)
    moved = (bg_param.float()[:, None, None, None] @ homogeneous[..., None]).squeeze(-1)
    return moved[..., :2] / moved[..., 2:]


class DenseMotionNetwork(nn.Module):
    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_tps: int, num_channels: int,
                 scale_factor: float = 0.25, multi_mask: bool = True, kp_variance: float = 0.01) -> None:
        super().__init__()
        if scale_factor != 1:  # registered first, as officially (state-dict order)
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)
        in_features = num_channels * (num_tps + 1) + POINTS_PER_TPS * num_tps + 1
        self.hourglass = Hourglass(block_expansion, in_features, num_blocks, max_features, norm="instance")
        levels = self.hourglass.decoder.level_filters  # deepest first
        self.maps = nn.Conv2d(levels[-1], num_tps + 1, kernel_size=(7, 7), padding=(3, 3))
        if multi_mask:
            up_nums = int(math.log2(1 / scale_factor))
            self.up = nn.ModuleList(UpBlock(levels[-1] // 2**i, levels[-1] // 2 ** (i + 1), norm="instance")
                                    for i in range(up_nums))
            occlusion_inputs = [*levels[-(OCCLUSION_MAPS - up_nums):],
                                *(levels[-1] // 2 ** (i + 1) for i in range(up_nums))]
        else:
            occlusion_inputs = [levels[-1]]
        self.occlusion = nn.ModuleList(nn.Conv2d(channels, 1, kernel_size=(7, 7), padding=(3, 3))
                                       for channels in occlusion_inputs)
        self.num_tps = num_tps
        self.scale_factor = scale_factor
        self.multi_mask = multi_mask
        self.kp_variance = kp_variance

    def downsample(self, source_image: Tensor) -> Tensor:
        return self.down(source_image) if self.scale_factor != 1 else source_image

    def heatmap_representation(self, shape: tuple[int, int], kp_driving: Tensor, kp_source: Tensor) -> Tensor:
        """(B, 1 + 5K, h, w): a zero channel, then driving minus source Gaussians, one per keypoint."""
        heatmap = kp2gaussian(kp_driving, shape, self.kp_variance) - kp2gaussian(kp_source, shape, self.kp_variance)
        return torch.cat([torch.zeros_like(heatmap[:, :1]), heatmap], dim=1)

    def transformations(self, shape: tuple[int, int], kp_driving: Tensor, kp_source: Tensor,
                        bg_param: Tensor | None) -> Tensor:
        """(B, K+1, h, w, 2): slot 0 the background, slot k+1 the TPS of keypoint group k (driving → source)."""
        batch = kp_driving.shape[0]
        groups = (batch, self.num_tps, POINTS_PER_TPS, 2)
        tps = KeypointTps(kp_driving.reshape(groups), kp_source.reshape(-1, *groups[1:]))
        foreground = tps.transform_frame(*shape)
        return torch.cat([background_grid(shape, batch, bg_param, foreground), foreground], dim=1)

    def deformed_sources(self, source_small: Tensor, transformations: Tensor) -> Tensor:
        """(B, K+1, C, h, w): the downsampled source warped by every transformation."""
        b, slots, h, w, _ = transformations.shape
        repeated = source_small.unsqueeze(1).expand(b, slots, *source_small.shape[1:]).reshape(b * slots, -1, h, w)
        return grid_sample(repeated, transformations.reshape(b * slots, h, w, 2)).view(b, slots, -1, h, w)

    def occlusion_maps(self, levels: list[Tensor]) -> list[Tensor]:
        """Occlusion maps from coarse to fine (multi-mask: one per inpainting resolution)."""
        if not self.multi_mask:
            return [torch.sigmoid(self.occlusion[0](levels[-1]).float())]
        up_nums = len(self.up)
        inputs = list(levels[up_nums - OCCLUSION_MAPS:])
        out = levels[-1]
        for block in self.up:
            out = block(out)
            inputs.append(out)
        return [torch.sigmoid(conv(x).float()) for conv, x in zip(self.occlusion, inputs, strict=True)]

    def forward(self, source_image: Tensor, kp_driving: Motion, kp_source: Motion, bg_param: Tensor | None = None,
                dropout_p: float | None = None) -> dict[str, Any]:
        return self.from_downsampled(self.downsample(source_image), kp_driving, kp_source, bg_param, dropout_p)

    def from_downsampled(self, source_small: Tensor, kp_driving: Motion, kp_source: Motion,
                         bg_param: Tensor | None = None, dropout_p: float | None = None) -> dict[str, Any]:
        """The network on an already downsampled source; with ``dropout_p`` (training: a probability, possibly
        0) contribution maps come from ``dropout_softmax``. ``occlusion_map`` is a list, coarsest first."""
        driving, source = kp_driving["value"].float(), kp_source["value"].float()
        batch = driving.shape[0]
        source_small = source_small.expand(batch, *source_small.shape[1:])
        shape = (source_small.shape[2], source_small.shape[3])
        heatmap = self.heatmap_representation(shape, driving, source)
        transformations = self.transformations(shape, driving, source, bg_param)
        deformed = self.deformed_sources(source_small, transformations)
        hourglass_input = torch.cat([heatmap.to(deformed.dtype), deformed.flatten(1, 2)], dim=1)
        levels = self.hourglass.levels(hourglass_input)
        logits = self.maps(levels[-1]).float()
        contribution = dropout_softmax(logits, dropout_p) if dropout_p is not None else F.softmax(logits, dim=1)
        with float32_region(contribution):
            deformation = (contribution[..., None] * transformations).sum(dim=1)
        return {"deformed_source": deformed, "contribution_maps": contribution, "deformation": deformation,
                "occlusion_map": self.occlusion_maps(levels)}
