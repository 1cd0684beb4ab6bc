"""FOMM keypoint detector: an hourglass predicts K heatmaps; keypoints are their soft-argmax, and each
keypoint's local affine jacobian is the heatmap-weighted average of a 4-channel regression."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animcli.models.base import Motion
from animcli.models.blocks import AntiAliasInterpolation2d, Hourglass, make_coordinate_grid


class KPDetector(nn.Module):
    def __init__(self, block_expansion: int, num_kp: int, num_channels: int, max_features: int, num_blocks: int,
                 temperature: float, estimate_jacobian: bool = False, scale_factor: float = 1,
                 single_jacobian_map: bool = False, pad: int = 0) -> None:
        super().__init__()
        self.predictor = Hourglass(block_expansion, in_features=num_channels, max_features=max_features,
                                   num_blocks=num_blocks)
        # A *valid* 7×7 conv (pad 0 in every official config): the heatmap is 6 pixels smaller than the features.
        self.kp = nn.Conv2d(self.predictor.out_filters, num_kp, kernel_size=(7, 7), padding=pad)
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2d(self.predictor.out_filters, 4 * self.num_jacobian_maps,
                                      kernel_size=(7, 7), padding=pad)
            # Identity jacobians at initialisation: only matters when training from scratch.
            self.jacobian.weight.data.zero_()
            self.jacobian.bias.data.copy_(torch.tensor([1, 0, 0, 1] * self.num_jacobian_maps, dtype=torch.float))
        else:
            self.jacobian = None
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def forward(self, x: Tensor) -> Motion:
        if self.scale_factor != 1:
            x = self.down(x)
        features = self.predictor(x)
        logits = self.kp(features).float()  # softmax and the expectation stay in float32 under fp16 autocast
        b, k, h, w = logits.shape
        heatmap = F.softmax(logits.view(b, k, -1) / self.temperature, dim=2).view(b, k, h, w)
        grid = make_coordinate_grid((h, w), heatmap)
        kp = {"value": (heatmap[..., None] * grid).sum(dim=(2, 3))}
        if self.jacobian is not None:
            jacobian_map = self.jacobian(features).float().view(b, self.num_jacobian_maps, 4, h, w)
            jacobian = (heatmap[:, :, None] * jacobian_map).sum(dim=(3, 4))
            kp["jacobian"] = jacobian.view(b, k, 2, 2)
        return kp
