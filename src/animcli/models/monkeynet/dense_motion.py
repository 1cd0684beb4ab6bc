"""Dense motion (paper §3.2): the movement embedding is turned into soft part masks, one per keypoint plus the
background; each part moves by its keypoint's displacement, and a free per-pixel correction is added."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animcli.models.blocks import Hourglass, SameBlock, make_coordinate_grid
from animcli.models.monkeynet.keypoint_detector import KeypointVariance
from animcli.models.monkeynet.movement_embedding import Keypoints, MovementEmbedding
from animcli.models.monkeynet.resampling import nearest_rescale


class DenseMotionModule(nn.Module):
    def __init__(self, block_expansion: int, num_blocks: int, max_features: int,
                 mask_embedding_params: dict[str, Any], num_kp: int, num_channels: int,
                 kp_variance: KeypointVariance, use_correction: bool, use_mask: bool, bg_init: float = 2,
                 num_group_blocks: int = 0, scale_factor: float = 1) -> None:
        super().__init__()
        # Both embeddings get the already-downscaled source, hence their own scale factor stays 1.
        self.mask_embedding = MovementEmbedding(num_kp, kp_variance, num_channels, add_bg_feature_map=True,
                                                **mask_embedding_params)
        self.difference_embedding = MovementEmbedding(num_kp, kp_variance, num_channels,
                                                      add_bg_feature_map=True, use_difference=True,
                                                      use_heatmap=False, use_deformed_source_image=False)
        channels = self.mask_embedding.out_channels
        self.group_blocks = nn.ModuleList(
            SameBlock(channels, channels, kernel_size=1, padding=0, groups=num_kp + 1, dims=3)
            for _ in range(num_group_blocks)
        )
        self.hourglass = Hourglass(block_expansion, in_features=channels,
                                   out_features=(num_kp + 1) * use_mask + 2 * use_correction,
                                   max_features=max_features, num_blocks=num_blocks, dims=3)
        # Training starts from "everything is background" (no motion).
        self.hourglass.decoder.conv.weight.data.zero_()
        bias = [bg_init] + [0.0] * num_kp if use_mask else []
        self.hourglass.decoder.conv.bias.data.copy_(torch.tensor(bias + [0.0, 0.0] * use_correction))
        self.num_kp = num_kp
        self.use_mask = use_mask
        self.use_correction = use_correction
        self.scale_factor = scale_factor

    def forward(self, source_image: Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> Tensor:
        """Absolute sampling grid (B, D, h, w, 3) with (x, y, z = 0), at the module's working resolution."""
        source_image = nearest_rescale(source_image, self.scale_factor)
        embedding = self.mask_embedding(source_image, kp_driving, kp_source)
        for block in self.group_blocks:
            embedding = F.leaky_relu(block(embedding), 0.2)
        prediction = self.hourglass(embedding).float()  # the grid is built in float32 under autocast
        batch, _, frames, h, w = prediction.shape
        displacement = prediction.new_zeros(batch, 2, frames, h, w)
        if self.use_mask:
            masks = F.softmax(prediction[:, : self.num_kp + 1], dim=1).unsqueeze(2)  # B, K+1, 1, D, h, w
            part_motion = self.difference_embedding(source_image, kp_driving, kp_source)
            part_motion = part_motion.view(batch, self.num_kp + 1, 2, frames, h, w)
            displacement = displacement + (part_motion * masks).sum(1)
        if self.use_correction:
            displacement = displacement + prediction[:, -2:]
        grid = make_coordinate_grid((h, w), displacement) + displacement.permute(0, 2, 3, 4, 1)
        return torch.cat([grid, torch.zeros_like(grid[..., :1])], dim=-1)
