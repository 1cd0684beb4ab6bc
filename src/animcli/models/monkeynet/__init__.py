"""Monkey-Net: Animating Arbitrary Objects via Deep Motion Transfer (Siarohin et al., CVPR 2019).

The official networks work on videos (B, C, D, H, W) with 1×3×3 3-D convolutions that never mix frames; at
this package's boundary images are (B, 3, H, W) and motions are {mean (B, K, 2), var (B, K, 2, 2)}. A batch
of driving frames becomes the frame axis D of one generator call (equivalent to per-frame calls in eval).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from torch import Tensor

from animcli.choices import TransferMode
from animcli.errors import ModelError
from animcli.models.base import Motion, TransferOptions
from animcli.models.keypoints import KeypointModel
from animcli.models.monkeynet.dense_motion import DenseMotionModule
from animcli.models.monkeynet.discriminator import Discriminator
from animcli.models.monkeynet.generator import MotionTransferGenerator
from animcli.models.monkeynet.keypoint_detector import KPDetector
from animcli.models.monkeynet.movement_embedding import MovementEmbedding
from animcli.models.monkeynet.normalization import normalize_kp

DEFAULT_FRAME_SIZE = 64  # the official FramesDataset default when a config names no image shape


@dataclass
class MonkeyNetSource:
    image: Tensor  # (1, 3, 1, H, W)
    kp: Motion  # (1, K, ...)
    appearance_skips: list[Tensor]  # the generator's encoder features of the source


def official_layout(motion: Motion, frames_axis: int) -> dict[str, Tensor]:
    """Motion (B, K, ...) as official keypoints: frames on D (``frames_axis=1``, batch 1) or on B (0)."""
    return {key: value.unsqueeze(1 - frames_axis) for key, value in motion.items()}


def frame_batch(kp: dict[str, Tensor]) -> Motion:
    """Official single-frame keypoints (B, 1, K, ...) as a motion (B, K, ...)."""
    return {key: value[:, 0] for key, value in kp.items()}


def _normalization(config: dict[str, Any]) -> dict[str, Any]:
    """The official ``transfer_params.normalization_params``: how driving motion is transferred."""
    return (config.get("transfer_params") or {}).get("normalization_params") or {}


class MonkeyNetModel(KeypointModel):
    family = "monkeynet"
    kp_key = "mean"
    smoothable_motion = ("mean", "var")
    generator_marker = "refinement_module.conv-last.weight"
    generator_depth_key = "num_blocks"
    kp_detector_class = KPDetector
    generator_class = MotionTransferGenerator
    discriminator_class = Discriminator

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        normalization = _normalization(config)
        self.config_adapt_scale = bool(normalization.get("movement_mult", False))
        self.clip_mean = bool(normalization.get("clip_mean", False))
        self.adapt_variance = bool(normalization.get("adapt_variance", False))

    @classmethod
    def claims_config(cls, config: dict[str, Any]) -> bool:
        generator = config.get("model_params", {}).get("generator_params", {})
        return isinstance(generator, dict) and "num_refinement_blocks" in generator

    @classmethod
    def config_default_mode(cls, config: dict[str, Any]) -> TransferMode:
        # The official normalize_kp defaults every flag to False (absolute transfer) when a config omits it.
        return "relative" if _normalization(config).get("move_location", False) else "absolute"

    @property
    def size(self) -> int:
        dataset = self.config.get("dataset_params") or {}
        if "image_shape" in dataset:
            return int(dataset["image_shape"][0])
        crop = (dataset.get("augmentation_params") or {}).get("crop_param") or {}
        return int(crop["size"][0]) if "size" in crop else DEFAULT_FRAME_SIZE

    # -- inference ----------------------------------------------------------------------------
    def encode_source(self, source: Tensor) -> MonkeyNetSource:
        image = source.unsqueeze(2)
        return MonkeyNetSource(image=image, kp=frame_batch(self.kp_detector(image)),
                               appearance_skips=self.generator.appearance_encoder(image))

    def encode_driving(self, frames: Tensor) -> Motion:
        return frame_batch(self.kp_detector(frames.unsqueeze(2)))

    def validate_options(self, options: TransferOptions) -> TransferOptions:
        relative = options.mode == "relative"
        if options.adapt_scale and not relative:
            raise ModelError("--adapt-scale scales relative motion only; Monkey-Net's absolute transfer uses "
                             "the driving keypoints as they are (use --no-adapt-scale or --mode relative)")
        adapt = self.config_adapt_scale if options.adapt_scale is None else options.adapt_scale
        return replace(options, adapt_scale=adapt and relative)

    def transfer(self, source_state: MonkeyNetSource, driving: Motion, initial: Motion,
                 options: TransferOptions) -> Motion:
        options = self.validate_options(options)
        return normalize_kp(source_state.kp, driving, initial, relative=options.mode == "relative",
                            movement_mult=bool(options.adapt_scale), clip_mean=self.clip_mean,
                            adapt_variance=self.adapt_variance)

    def generate(self, source_state: MonkeyNetSource, motion: Motion) -> Tensor:
        kp_driving = official_layout(motion, frames_axis=1)
        kp_source = official_layout(source_state.kp, frames_axis=1)
        out = self.generator.animate(source_state.image, source_state.appearance_skips, kp_driving, kp_source)
        return out["video_prediction"][0].transpose(0, 1)


MODEL = MonkeyNetModel
build_discriminator = MonkeyNetModel.build_discriminator

__all__ = ["MODEL", "MonkeyNetModel", "MonkeyNetSource", "KPDetector", "MovementEmbedding",
           "DenseMotionModule", "MotionTransferGenerator", "Discriminator",
           "build_discriminator", "normalize_kp"]
