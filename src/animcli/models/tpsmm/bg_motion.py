"""TPSMM background motion predictor: an affine transform of the whole frame from a (source, driving) pair.

Used by training and reconstruction only; the official demo animates without it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from animcli.models.tpsmm.resnet import RESNET18_WIDTHS, ResNet18


class BGMotionPredictor(nn.Module):
    def __init__(self, num_channels: int = 3, resnet_widths: Sequence[int] = RESNET18_WIDTHS) -> None:
        super().__init__()
        self.bg_encoder = ResNet18(2 * num_channels, 6, resnet_widths)
        # Starts at the identity transform: the background does not move until training says otherwise.
        nn.init.zeros_(self.bg_encoder.fc.weight)
        with torch.no_grad():
            self.bg_encoder.fc.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1, 0]))

    def forward(self, source: Tensor, driving: Tensor) -> Tensor:
        """(B, 3, 3) homogeneous affine matrices mapping driving coordinates to source coordinates."""
        params = self.bg_encoder(torch.cat([source, driving], dim=1)).float()
        batch = params.shape[0]
        matrix = torch.eye(3, dtype=params.dtype, device=params.device).repeat(batch, 1, 1)
        return torch.cat([params.view(batch, 2, 3), matrix[:, 2:]], dim=1)
