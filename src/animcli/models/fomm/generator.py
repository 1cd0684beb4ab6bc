"""FOMM occlusion-aware generator: encode the source, warp its features with the dense motion, mask the
occluded parts, and decode the driving frame."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animcli.models.base import Motion
from animcli.models.blocks import DownBlock, ResBlock, SameBlock, UpBlock, grid_sample, level_features
from animcli.models.fomm.dense_motion import DenseMotionNetwork


def resize_to(tensor: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear (align_corners=False, no antialias) resize of a (B,C,h,w) map when its size differs."""
    if tuple(tensor.shape[2:]) == size:
        return tensor
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)


def deform(feature: Tensor, deformation: Tensor, align_corners: bool = True) -> Tensor:
    """Warp ``feature`` by a (B,h,w,2) backward flow, resizing the flow to the feature size first."""
    flow = resize_to(deformation.permute(0, 3, 1, 2), tuple(feature.shape[2:])).permute(0, 2, 3, 1)
    return grid_sample(feature, flow, align_corners)


class OcclusionAwareGenerator(nn.Module):
    def __init__(self, num_channels: int, num_kp: int, block_expansion: int, max_features: int,
                 num_down_blocks: int, num_bottleneck_blocks: int, estimate_occlusion_map: bool = False,
                 dense_motion_params: dict[str, Any] | None = None, estimate_jacobian: bool = False,
                 align_corners: bool = True) -> None:
        super().__init__()
        self.dense_motion_network = (
            DenseMotionNetwork(num_kp=num_kp, num_channels=num_channels,
                               estimate_occlusion_map=estimate_occlusion_map, align_corners=align_corners,
                               **dense_motion_params)
            if dense_motion_params is not None else None
        )
        self.first = SameBlock(num_channels, block_expansion, kernel_size=7, padding=3)
        self.down_blocks = nn.ModuleList(
            DownBlock(level_features(block_expansion, i, max_features),
                      level_features(block_expansion, i + 1, max_features))
            for i in range(num_down_blocks)
        )
        self.up_blocks = nn.ModuleList(
            UpBlock(level_features(block_expansion, num_down_blocks - i, max_features),
                    level_features(block_expansion, num_down_blocks - i - 1, max_features))
            for i in range(num_down_blocks)
        )
        bottleneck_features = level_features(block_expansion, num_down_blocks, max_features)
        self.bottleneck = nn.Sequential()
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock(bottleneck_features, kernel_size=3, padding=1))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.num_channels = num_channels
        self.align_corners = align_corners

    def encode(self, source_image: Tensor) -> Tensor:
        out = self.first(source_image)
        for block in self.down_blocks:
            out = block(out)
        return out

    def decode(self, source_features: Tensor, motion: dict[str, Tensor] | None) -> Tensor:
        """Warp and occlude the source features with ``motion`` (dense motion outputs), then decode."""
        out = source_features
        if motion is not None:
            out = out.expand(motion["deformation"].shape[0], *out.shape[1:])
            out = deform(out, motion["deformation"], self.align_corners)
            if "occlusion_map" in motion:
                out = out * resize_to(motion["occlusion_map"], tuple(out.shape[2:])).to(out.dtype)
        out = self.bottleneck(out)
        for block in self.up_blocks:
            out = block(out)
        return torch.sigmoid(self.final(out))

    def forward(self, source_image: Tensor, kp_driving: Motion, kp_source: Motion) -> dict[str, Tensor]:
        source_features = self.encode(source_image)
        if self.dense_motion_network is None:
            return {"prediction": self.decode(source_features, None)}
        motion = self.dense_motion_network(source_image, kp_driving, kp_source)
        batch = motion["deformation"].shape[0]
        output = dict(motion)
        output["deformed"] = deform(source_image.expand(batch, *source_image.shape[1:]), motion["deformation"],
                                    self.align_corners)
        output["prediction"] = self.decode(source_features, motion)
        return output
