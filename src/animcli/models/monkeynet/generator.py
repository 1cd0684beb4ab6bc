"""Motion transfer generator (paper §3.2): the source's encoder features are warped by the dense motion,
joined with the keypoint embedding, and decoded into the driven frames."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animcli.models.blocks import Decoder, Encoder, ResBlock, grid_sample
from animcli.models.monkeynet.dense_motion import DenseMotionModule
from animcli.models.monkeynet.keypoint_detector import KeypointVariance
from animcli.models.monkeynet.movement_embedding import Keypoints, MovementEmbedding


class MotionTransferGenerator(nn.Module):
    def __init__(self, num_channels: int, num_kp: int, kp_variance: KeypointVariance, block_expansion: int,
                 max_features: int, num_blocks: int, num_refinement_blocks: int,
                 dense_motion_params: dict[str, Any], kp_embedding_params: dict[str, Any] | None = None,
                 interpolation_mode: str = "nearest") -> None:
        super().__init__()
        self.appearance_encoder = Encoder(block_expansion, in_features=num_channels, num_blocks=num_blocks,
                                          max_features=max_features, dims=3)
        self.kp_embedding_module = (
            MovementEmbedding(num_kp, kp_variance, num_channels, **kp_embedding_params)
            if kp_embedding_params is not None else None
        )
        embedding_features = self.kp_embedding_module.out_channels if self.kp_embedding_module else 0
        self.dense_motion_module = DenseMotionModule(num_kp=num_kp, kp_variance=kp_variance,
                                                     num_channels=num_channels, **dense_motion_params)
        self.video_decoder = Decoder(block_expansion, in_features=num_channels, num_blocks=num_blocks,
                                     max_features=max_features, dims=3,
                                     additional_features=embedding_features)
        refined_features = self.video_decoder.out_filters
        self.refinement_module = nn.Sequential()
        for i in range(num_refinement_blocks):
            self.refinement_module.add_module(f"r{i}", ResBlock(refined_features, dims=3))
        to_image = nn.Conv3d(refined_features, num_channels, kernel_size=1)
        self.refinement_module.add_module("conv-last", to_image)
        # 'nearest' (trilinear for vox) also when upsampling the motion to full resolution, as trained.
        self.interpolation_mode = interpolation_mode

    def forward(self, source_image: Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> dict[str, Tensor]:
        """source_image (B, C, 1, H, W), kp_driving with D frames → frames (B, C, D, H, W)."""
        return self.animate(source_image, self.appearance_encoder(source_image), kp_driving, kp_source)

    def animate(self, source_image: Tensor, appearance_skips: list[Tensor], kp_driving: Keypoints,
                kp_source: Keypoints) -> dict[str, Tensor]:
        """``forward`` with the source's encoder features, ``appearance_encoder(source_image)``, given."""
        deformation = self.dense_motion_module(source_image, kp_driving, kp_source)
        skips = [self.deform(skip, deformation) for skip in appearance_skips]
        if self.kp_embedding_module is not None:
            embedding = self.kp_embedding_module(source_image, kp_driving, kp_source)
            skips = [torch.cat([skip, self.resize(embedding, skip)], dim=1) for skip in skips]
        prediction = self.refinement_module(self.video_decoder(skips))
        return {"video_prediction": torch.sigmoid(prediction),
                "video_deformed": self.deform(source_image, deformation)}

    def resize(self, video: Tensor, like: Tensor) -> Tensor:
        """``video`` resized to the frame count of ``video`` and the spatial size of ``like``."""
        return F.interpolate(video, size=(video.shape[2], *like.shape[3:]), mode=self.interpolation_mode)

    def deform(self, features: Tensor, deformation: Tensor) -> Tensor:
        """Single-frame features (B, c, 1, h, w) sampled at the grid (B, D, h', w', 3) → (B, c, D, h, w)."""
        grid = self.resize(deformation.permute(0, 4, 1, 2, 3), features).permute(0, 2, 3, 4, 1)
        # The features have one frame, so with align_corners=True every z lands exactly on it: the trilinear
        # 5-D sampling equals a bilinear 2-D one of that frame over the D grids stacked along the height
        # (ONNX's GridSample before opset 20 is 2-D only, and the 2-D kernel is faster).
        batch, channels, _, height, width = features.shape
        frames = grid.shape[1]
        planar_grid = grid[..., :2].reshape(batch, frames * grid.shape[2], grid.shape[3], 2)
        out = grid_sample(features[:, :, 0], planar_grid)
        return out.view(batch, channels, frames, grid.shape[2], grid.shape[3])
