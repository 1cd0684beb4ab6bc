"""Monkey-Net: Animating Arbitrary Objects via Deep Motion Transfer (Siarohin et al., CVPR 2019).

The official networks work on videos (B, C, D, H, W) with 1×3×3 3-D convolutions that never mix frames; at
this package's boundary images are (B, 3, H, W) and motions are {mean (B, K, 2), var (B, K, 2, 2)}. A batch
of driving frames becomes the frame axis D of one generator call (equivalent to per-frame calls in eval).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from torch import Tensor

from animcli.common.choices import TransferMode
from animcli.common.errors import ModelError
from animcli.models.base import Motion, PredictionSettings, TransferOptions
from animcli.models.blocks import float32_region
from animcli.models.keypoints import KeypointModel
from animcli.models.monkeynet.dense_motion import DenseMotionModule
from animcli.models.monkeynet.discriminator import Discriminator
from animcli.models.monkeynet.generator import MotionTransferGenerator
from animcli.models.monkeynet.keypoint_detector import KPDetector
from animcli.models.monkeynet.movement_embedding import MovementEmbedding
from animcli.models.monkeynet.normalization import normalize_kp
from animcli.models.monkeynet.prediction import KeypointPredictor, PredictionParams, build_predictor
from animcli.models.state_dicts import load_strict

DEFAULT_FRAME_SIZE = 64  # the official FramesDataset default when a config names no image shape


@dataclass
class MonkeyNetSource:
    image: Tensor  # (1, 3, 1, H, W)
    kp: Motion  # (1, K, ...)
    appearance_skips: list[Tensor]  # the generator's encoder features of the source


def frame_shape(config: dict[str, Any]) -> tuple[int, int]:
    """The official frame size: image_shape, else the crop size, else FramesDataset's 64×64 default."""
    dataset = config.get("dataset_params") or {}
    crop = ((dataset.get("augmentation_params") or {}).get("crop_param") or {}).get("size")
    height, width = (dataset.get("image_shape") or crop or [DEFAULT_FRAME_SIZE, DEFAULT_FRAME_SIZE])[:2]
    return int(height), int(width)


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
        #: image-to-video keypoint predictor, when the checkpoint carries one (``predictor`` entry)
        self.predictor: KeypointPredictor | None = None

    @classmethod
    def claims_config(cls, config: dict[str, Any]) -> bool:
        generator = config.get("model_params", {}).get("generator_params", {})
        return isinstance(generator, dict) and "num_refinement_blocks" in generator

    @classmethod
    def config_default_mode(cls, config: dict[str, Any]) -> TransferMode:
        # The official normalize_kp defaults every flag to False (absolute transfer) when a config omits it.
        return "relative" if _normalization(config).get("move_location", False) else "absolute"

    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().load_checkpoint(checkpoint)
        if "predictor" in checkpoint:
            predictor = build_predictor(self.config, checkpoint["predictor"])
            load_strict(predictor, checkpoint["predictor"], "predictor")
            self.predictor = predictor.to(next(self.generator.parameters()).device)

    @property
    def size(self) -> int:
        return frame_shape(self.config)[0]

    # -- inference ----------------------------------------------------------------------------
    def source_keypoints(self, source: Tensor) -> Motion:
        return frame_batch(self.kp_detector(source.unsqueeze(2)))

    def source_state(self, source: Tensor, kp: Motion) -> MonkeyNetSource:
        image = source.unsqueeze(2)
        return MonkeyNetSource(image=image, kp=kp, appearance_skips=self.generator.appearance_encoder(image))

    def encode_driving(self, frames: Tensor) -> Motion:
        return frame_batch(self.kp_detector(frames.unsqueeze(2)))

    def validate_options(self, options: TransferOptions) -> TransferOptions:
        options = super().validate_options(options)
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

    def trained_predictor(self) -> KeypointPredictor:
        if self.predictor is None:
            raise ModelError("this Monkey-Net checkpoint has no 'predictor' entry: train one with "
                             "`animcli train --task prediction --model CHECKPOINT ...`")
        return self.predictor

    def prediction_settings(self) -> PredictionSettings:
        self.trained_predictor()
        params = PredictionParams.of(self.config)
        return PredictionSettings(init_frames=params.init_frames, num_frames=params.num_frames)

    def predict_motion(self, observed: Motion, num_frames: int) -> Motion:
        predictor = self.trained_predictor()
        predict_variance = PredictionParams.of(self.config).predict_variance
        observed = official_layout(observed, frames_axis=1)
        # Keypoints are coordinates: the recurrent prediction stays in float32 under fp16 inference.
        with float32_region(observed["mean"]):
            observed = {key: value.float() for key, value in observed.items()}
            predicted = predictor.continue_sequence(observed, num_frames, predict_variance)
        return {key: value[0] for key, value in predicted.items()}

    def generate(self, source_state: MonkeyNetSource, motion: Motion) -> Tensor:
        kp_driving = official_layout(motion, frames_axis=1)
        kp_source = official_layout(source_state.kp, frames_axis=1)
        out = self.generator.animate(source_state.image, source_state.appearance_skips, kp_driving, kp_source)
        return out["video_prediction"][0].transpose(0, 1)


MODEL = MonkeyNetModel
build_discriminator = MonkeyNetModel.build_discriminator

__all__ = ["MODEL", "MonkeyNetModel", "MonkeyNetSource", "KPDetector", "MovementEmbedding",
           "DenseMotionModule", "MotionTransferGenerator", "Discriminator",
           "build_discriminator", "normalize_kp", "frame_shape", "KeypointPredictor"]
