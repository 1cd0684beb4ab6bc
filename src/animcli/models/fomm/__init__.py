"""First Order Motion Model (Siarohin et al., NeurIPS 2019)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from animcli.choices import TransferMode
from animcli.models import keypoint_transfer
from animcli.models.base import Motion, TransferOptions
from animcli.models.construction import construct
from animcli.models.fomm.dense_motion import DenseMotionNetwork
from animcli.models.fomm.discriminator import MultiScaleDiscriminator
from animcli.models.fomm.generator import OcclusionAwareGenerator
from animcli.models.fomm.keypoint_detector import KPDetector
from animcli.models.keypoints import KeypointModel

COMMON = "model_params.common_params"


@dataclass
class FommSource:
    image: Tensor  # (1, 3, H, W)
    kp: Motion
    features: Tensor  # generator encoder output
    downsampled: Tensor  # dense-motion input resolution


def build_networks(config: dict[str, Any], align_corners: bool = True) -> tuple[KPDetector, OcclusionAwareGenerator]:
    """The official construction: each network gets its own section merged with all of ``common_params``."""
    kp_detector = construct(KPDetector, config, "model_params.kp_detector_params", COMMON)
    generator = construct(OcclusionAwareGenerator, config, "model_params.generator_params", COMMON,
                          align_corners=align_corners)
    return kp_detector, generator


def build_discriminator(config: dict[str, Any]) -> MultiScaleDiscriminator:
    return construct(MultiScaleDiscriminator, config, "model_params.discriminator_params", COMMON)


def _normalization(config: dict[str, Any]) -> dict[str, Any]:
    """The official demo's ``normalization_params``: how driving motion is transferred."""
    return config.get("animate_params", {}).get("normalization_params", {})


class FommModel(KeypointModel):
    family = "fomm"
    kp_key = "value"
    generator_marker = "dense_motion_network.mask.weight"

    def __init__(self, config: dict[str, Any], align_corners: bool = True) -> None:
        """``align_corners=False`` reproduces the unmodified official code on torch ≥ 1.3 (not how the
        published checkpoints were trained; kept only for comparisons with that code)."""
        super().__init__(config)
        self.kp_detector, self.generator = build_networks(config, align_corners)
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

    def size_multiple(self) -> int:
        """Fully convolutional: any size whose anti-alias subsampling and hourglass poolings are exact."""
        params = self.config["model_params"]
        dense = params["generator_params"]["dense_motion_params"]
        multiples = [2 ** params["generator_params"]["num_down_blocks"]]
        for section in (params["kp_detector_params"], dense):
            multiples.append(round(1 / section.get("scale_factor", 1)) * 2 ** section["num_blocks"])
        return math.lcm(*multiples)

    def encode_source(self, source: Tensor) -> FommSource:
        dense_motion = self.generator.dense_motion_network
        return FommSource(image=source, kp=self.kp_detector(source), features=self.generator.encode(source),
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

__all__ = ["MODEL", "FommModel", "KPDetector", "DenseMotionNetwork", "OcclusionAwareGenerator",
           "MultiScaleDiscriminator", "build_networks", "build_discriminator"]
