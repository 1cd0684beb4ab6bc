"""TPSMM keypoint detector: a ResNet-18 on the full image regresses 5·K keypoints directly (no heatmaps)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from animcli.models.base import Motion
from animcli.models.tpsmm.resnet import RESNET18_WIDTHS, ResNet18

#: keypoints per thin-plate-spline transform
POINTS_PER_TPS = 5


class KPDetector(nn.Module):
    def __init__(self, num_tps: int, num_channels: int = 3, resnet_widths: Sequence[int] = RESNET18_WIDTHS) -> None:
        super().__init__()
        self.num_tps = num_tps
        self.fg_encoder = ResNet18(num_channels, 2 * POINTS_PER_TPS * num_tps, resnet_widths)

    def forward(self, image: Tensor) -> Motion:
        """{'fg_kp': (B, 5K, 2)} in (-1, 1), (x, y); keypoints 5k…5k+4 belong to transform k."""
        logits = self.fg_encoder(image).float()
        return {"fg_kp": (torch.sigmoid(logits) * 2 - 1).view(image.shape[0], POINTS_PER_TPS * self.num_tps, 2)}
