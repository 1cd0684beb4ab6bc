"""First Order Motion Model (Siarohin et al., NeurIPS 2019)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from animcli.common.choices import TransferMode
from animcli.models import keypoint_transfer
from animcli.models.base import Motion, TransferOptions
from animcli.models.fomm.dense_motion import DenseMotionNetwork
from animcli.models.fomm.discriminator import MultiScaleDiscriminator
from animcli.models.fomm.generator import OcclusionAwareGenerator
from animcli.models.fomm.keypoint_detector import KPDetector
from animcli.models.keypoints import KeypointModel


@dataclass
class FommSource:
    image: Tensor  # (1, 3, H, W)
    kp: Motion
    features: Tensor  # generator encoder output
    downsampled: Tensor  # dense-motion input resolution


def _normalization(config: dict[str, Any]) -> dict[str, Any]:
    """The official demo's ``normalization_params``: how driving motion is transferred."""
    return config.get("animate_params", {}).get("normalization_params", {})


class FommModel(KeypointModel):
    family = "fomm"
    kp_key = "value"
    smoothable_motion = ("value", "jacobian")
    generator_marker = "dense_motion_network.mask.weight"
    generator_depth_key = "num_down_blocks"
    kp_detector_class = KPDetector
    generator_class = OcclusionAwareGenerator
    discriminator_class = MultiScaleDiscriminator

    def __init__(self, config: dict[str, Any], align_corners: bool = True) -> None:
        """``align_corners=False`` reproduces the unmodified official code on torch ≥ 1.3 (not how the
        published checkpoints were trained; kept only for comparisons with that code)."""
        super().__init__(config, align_corners=align_corners)
        self.config_adapt_scale = bool(_normalization(config).get("adapt_movement_scale", False))

    @classmethod
    def config_default_mode(cls, config: dict[str, Any]) -> TransferMode:
        return "relative" if _normalization(config).get("use_relative_movement", True) else "absolute"

    @classmethod
    def claims_config(cls, config: dict[str, Any]) -> bool:
        generator = config.get("model_params", {}).get("generator_params", {})
        # Monkey-Net configs also have dense_motion_params; num_down_blocks is FOMM's alone.
        return "dense_motion_params" in generator and "num_down_blocks" in generator

    @property
    def size(self) -> int:
        return int(self.config.get("dataset_params", {}).get("frame_shape", [256])[0])

    def source_keypoints(self, source: Tensor) -> Motion:
        return self.kp_detector(source)

    def source_state(self, source: Tensor, kp: Motion) -> FommSource:
        dense_motion = self.generator.dense_motion_network
        return FommSource(image=source, kp=kp, features=self.generator.encode(source),
                          downsampled=dense_motion.downsample(source))

    def encode_driving(self, frames: Tensor) -> Motion:
        return self.kp_detector(frames)

    def transfer(self, source_state: FommSource, driving: Motion, initial: Motion, options: TransferOptions) -> Motion:
        relative = options.mode == "relative"
        adapt = self.config_adapt_scale if options.adapt_scale is None else options.adapt_scale
        return keypoint_transfer.normalize_kp(source_state.kp, driving, initial, relative=relative,
                                     relative_jacobian=relative, adapt_scale=adapt)

    def generate(self, source_state: FommSource, motion: Motion) -> Tensor:
        dense = self.generator.dense_motion_network.from_downsampled(source_state.downsampled, motion,
                                                                      source_state.kp)
        return self.generator.decode(source_state.features, dense)


MODEL = FommModel
build_discriminator = FommModel.build_discriminator

__all__ = ["MODEL", "FommModel", "KPDetector", "DenseMotionNetwork", "OcclusionAwareGenerator",
           "MultiScaleDiscriminator", "build_discriminator"]
