"""FOMM occlusion-aware generator: encode the source, warp its features with the dense motion, mask the
occluded parts, and decode the driving frame."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from animcli.models.base import Motion
from animcli.models.blocks import DownBlock, ResBlock, SameBlock, UpBlock, deform, level_features, resize_to
from animcli.models.fomm.dense_motion import DenseMotionNetwork


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
