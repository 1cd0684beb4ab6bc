"""Monkey-Net's patch discriminator, conditioned on the driving keypoints' heatmaps, and its losses
(feature matching on the intermediate maps + least-squares GAN)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animcli.models.blocks import level_features
from animcli.models.monkeynet.keypoint_detector import KeypointVariance
from animcli.models.monkeynet.movement_embedding import Keypoints, MovementEmbedding
from animcli.models.monkeynet.resampling import nearest_rescale


class DiscriminatorBlock(nn.Module):
    """Unpadded (1, 4, 4) conv → optional instance norm → leaky ReLU 0.2 → 2×2 average pooling."""

    def __init__(self, in_features: int, out_features: int, norm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=(1, 4, 4))
        # Instance norm over frames and pixels jointly; training feeds one frame at a time.
        self.norm = nn.InstanceNorm3d(out_features, affine=True) if norm else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        return F.avg_pool3d(F.leaky_relu(out, 0.2), (1, 2, 2))


class Discriminator(nn.Module):
    def __init__(self, num_channels: int = 3, num_kp: int = 10, kp_variance: KeypointVariance = 0.01,
                 scale_factor: float = 1, block_expansion: int = 64, num_blocks: int = 4,
                 max_features: int = 512, kp_embedding_params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.kp_embedding = (
            MovementEmbedding(num_kp, kp_variance, num_channels, **kp_embedding_params)
            if kp_embedding_params is not None else None
        )
        embedding_channels = self.kp_embedding.out_channels if self.kp_embedding else 0
        self.down_blocks = nn.ModuleList(
            DiscriminatorBlock(num_channels + embedding_channels if i == 0
                               else level_features(block_expansion, i, max_features),
                               level_features(block_expansion, i + 1, max_features), norm=i != 0)
            for i in range(num_blocks)
        )
        self.conv = nn.Conv3d(level_features(block_expansion, num_blocks, max_features), 1, kernel_size=1)
        self.scale_factor = scale_factor

    def forward(self, video: Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> list[Tensor]:
        """[input video, block 1..N outputs, patch scores]; the first and last are what the losses use."""
        maps = [video]
        out = nearest_rescale(video, self.scale_factor)
        if self.kp_embedding is not None:
            out = torch.cat([out, self.kp_embedding(out, kp_driving, kp_source)], dim=1)
        for block in self.down_blocks:
            out = block(out)
            maps.append(out)
        maps.append(self.conv(out))
        return maps
