"""Thin-Plate Spline Motion Model (Zhao & Zhang, CVPR 2022).

Motion is 50 keypoints in 10 groups of 5; each group's pairs (driving, source) fit one thin-plate spline, and a
dense motion network blends the ten transforms and a background slot into one flow that an inpainting network
renders with. Modes: absolute (the official demo's "standard"), relative (driving motion since the reference
frame, always scaled by the keypoint hull ratio in the official demo; the family default) and avd (an MLP puts
the driving pose on the source's identity).

The background slot moves by an affine transform that the BG predictor estimates from the (source, driving)
pair in reconstruction (as the official reconstruction.py); animation keeps it still (as demo.py). So a driving
motion carries its frame beside the keypoints, and the transferred motion carries the background transform
(``bg_param``, the identity when animating).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from animcli.common.choices import TransferMode
from animcli.common.errors import ModelError
from animcli.models import keypoint_transfer
from animcli.models.base import AnimationModel, Motion, TransferOptions
from animcli.models.construction import config_section, construct
from animcli.models.state_dicts import load_strict
from animcli.models.tpsmm.avd import AVD_HIDDEN, AVDNetwork, avd_hidden_widths
from animcli.models.tpsmm.bg_motion import BGMotionPredictor
from animcli.models.tpsmm.dense_motion import DenseMotionNetwork
from animcli.models.tpsmm.inpainting import InpaintingNetwork
from animcli.models.tpsmm.keypoint_detector import KPDetector
from animcli.models.tpsmm.resnet import RESNET18_WIDTHS, resnet_widths

#: the networks every checkpoint must hold; ``bg_predictor`` and ``avd_network`` are optional (SPEC §10)
REQUIRED_NETWORKS = ("inpainting_network", "dense_motion_network", "kp_detector")
OPTIONAL_NETWORKS = ("avd_network", "bg_predictor")
#: where a config records non-standard widths of the ResNets and the AVD MLP (the official code hard-codes them;
#: the shared fixtures reduce them). Read off the checkpoint when one is loaded.
WIDTHS_SECTION = "fixture_widths"


@dataclass
class TpsmmSource:
    image: Tensor  # (1, 3, H, W)
    kp: Motion
    encoder_maps: list[Tensor]  # the inpainting network's encoder maps of the source, finest first
    downsampled: Tensor  # the dense motion network's input resolution


def _widths(config: dict[str, Any]) -> dict[str, Any]:
    return config["model_params"].get(WIDTHS_SECTION) or {}


def build_networks(config: dict[str, Any]) -> dict[str, nn.Module]:
    """Every TPSMM network under its checkpoint key, built from the official config layout (``bg_predictor``
    only when ``common_params.bg`` is on)."""
    common = config_section(config, "model_params.common_params")
    num_tps, channels = int(common["num_tps"]), int(common.get("num_channels", 3))
    multi_mask = bool(common.get("multi_mask", True))
    resnet = tuple(_widths(config).get("resnet18", RESNET18_WIDTHS))
    networks: dict[str, nn.Module] = {
        "inpainting_network": construct(InpaintingNetwork, config, "model_params.generator_params",
                                        num_channels=channels, multi_mask=multi_mask),
        "dense_motion_network": construct(DenseMotionNetwork, config, "model_params.dense_motion_params",
                                          num_tps=num_tps, num_channels=channels, multi_mask=multi_mask),
        "kp_detector": KPDetector(num_tps, channels, resnet),
    }
    if common.get("bg", False):
        networks["bg_predictor"] = BGMotionPredictor(channels, resnet)
    if "avd_network_params" in config["model_params"]:
        networks["avd_network"] = construct(AVDNetwork, config, "model_params.avd_network_params", num_tps=num_tps,
                                            hidden=tuple(_widths(config).get("avd_hidden", AVD_HIDDEN)))
    return networks


def _entry(checkpoint: dict[str, Any], name: str) -> dict[str, Any]:
    entry = checkpoint.get(name)
    return entry if isinstance(entry, dict) else {}


def config_for_checkpoint(config: dict[str, Any], checkpoint: dict[str, Any]) -> dict[str, Any]:
    """``config`` with the ResNet and AVD widths the checkpoint's tensors have (they are not in official configs)."""
    widths = {}
    kp_detector, avd_network = _entry(checkpoint, "kp_detector"), _entry(checkpoint, "avd_network")
    if "fg_encoder.layer1.0.conv1.weight" in kp_detector:
        widths["resnet18"] = list(resnet_widths(kp_detector, "fg_encoder."))
    if "id_encoder.6.weight" in avd_network:
        widths["avd_hidden"] = list(avd_hidden_widths(avd_network))
    fitted = copy.deepcopy(config)
    fitted["model_params"][WIDTHS_SECTION] = {**_widths(config), **widths}
    return fitted


class TpsmmModel(AnimationModel):
    family = "tpsmm"
    smoothable_motion = ("value",)
    transfer_modes: ClassVar[tuple[TransferMode, ...]] = ("relative", "absolute", "avd")

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        networks = build_networks(config)
        self.inpainting_network = networks["inpainting_network"]
        self.dense_motion_network = networks["dense_motion_network"]
        self.kp_detector = networks["kp_detector"]
        #: None when the config has no avd_network_params or the checkpoint no avd_network
        self.avd_network: nn.Module | None = networks.get("avd_network")
        #: None when the config's ``bg`` is off or the checkpoint has no bg_predictor
        self.bg_predictor: nn.Module | None = networks.get("bg_predictor")

    @classmethod
    def claims_config(cls, config: dict[str, Any]) -> bool:
        params = config.get("model_params", {})
        return "num_tps" in params.get("common_params", {}) and "dense_motion_params" in params

    @classmethod
    def claims_checkpoint(cls, checkpoint: dict[str, Any]) -> bool:
        return isinstance(checkpoint.get("inpainting_network"), dict)

    @classmethod
    def from_checkpoint(cls, config: dict[str, Any], checkpoint: dict[str, Any]) -> TpsmmModel:
        model = cls(config_for_checkpoint(config, checkpoint))
        model.load_checkpoint(checkpoint)
        return model

    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        for name in REQUIRED_NETWORKS:
            if name not in checkpoint:
                raise ModelError(f"not a {self.family} checkpoint: it has no {name!r} entry")
            load_strict(getattr(self, name), checkpoint[name], name)
        # An optional network the checkpoint lacks would run with random weights: it is dropped instead.
        for name in OPTIONAL_NETWORKS:
            if getattr(self, name) is not None and name in checkpoint:
                load_strict(getattr(self, name), checkpoint[name], name)
            else:
                setattr(self, name, None)

    @property
    def size(self) -> int:
        frame_shape = self.config.get("dataset_params", {}).get("frame_shape")
        return int(frame_shape[0]) if frame_shape else 256

    def size_multiple(self) -> int:
        """The dense hourglass pools its 1/scale input num_blocks times; the inpainting encoder num_down_blocks."""
        params = self.config["model_params"]
        dense = params["dense_motion_params"]
        return math.lcm(round(1 / dense.get("scale_factor", 0.25)) * 2 ** dense["num_blocks"],
                        2 ** params["generator_params"]["num_down_blocks"])

    # -- inference ----------------------------------------------------------------------------
    def encode_source(self, source: Tensor) -> TpsmmSource:
        return self.source_state(source, {"value": self.detect(source)})

    def source_state(self, source: Tensor, kp: Motion) -> TpsmmSource:
        return TpsmmSource(image=source, kp=kp, encoder_maps=self.inpainting_network.encode(source),
                           downsampled=self.dense_motion_network.downsample(source))

    def official_frame_source(self, source: Tensor, source_state: TpsmmSource) -> TpsmmSource:
        # The official demo detects the source keypoints once; its inpainting network re-encodes the source per frame.
        return self.source_state(source, source_state.kp)

    def detect(self, frames: Tensor) -> Tensor:
        """(B, 5K, 2) keypoints."""
        return self.kp_detector(frames)["fg_kp"]

    def encode_driving(self, frames: Tensor) -> Motion:
        return {"value": self.detect(frames), "frame": frames}

    def validate_options(self, options: TransferOptions) -> TransferOptions:
        options = super().validate_options(options)
        if options.mode == "avd" and self.avd_network is None:
            raise ModelError("--mode avd needs a TPSMM checkpoint with an 'avd_network' (trained by "
                             "`animcli train --task avd`); this one has none")
        return options

    def transfer(self, source_state: TpsmmSource, driving: Motion, initial: Motion,
                 options: TransferOptions) -> Motion:
        return {"value": self.transferred_keypoints(source_state, driving, initial, options),
                "bg_param": self.background(source_state, driving, options)}

    def transferred_keypoints(self, source_state: TpsmmSource, driving: Motion, initial: Motion,
                              options: TransferOptions) -> Tensor:
        if options.mode == "avd":
            assert self.avd_network is not None
            return self.avd_network({"fg_kp": source_state.kp["value"]}, {"fg_kp": driving["value"]})["fg_kp"]
        adapt = True if options.adapt_scale is None else options.adapt_scale
        return keypoint_transfer.normalize_kp(source_state.kp, driving, initial, relative=options.mode == "relative",
                                              relative_jacobian=False, adapt_scale=adapt)["value"]

    def background(self, source_state: TpsmmSource, driving: Motion, options: TransferOptions) -> Tensor:
        """(B, 3, 3) background transforms: the BG predictor's in reconstruction, else the identity (which leaves
        the background slot exactly where it is)."""
        frames = driving["frame"]
        if options.reconstruction and self.bg_predictor is not None:
            return self.bg_predictor(source_state.image.expand_as(frames), frames)
        return torch.eye(3, device=frames.device).expand(frames.shape[0], 3, 3)

    def generate(self, source_state: TpsmmSource, motion: Motion) -> Tensor:
        dense = self.dense_motion_network.from_downsampled(source_state.downsampled, motion, source_state.kp,
                                                           motion["bg_param"])
        return self.inpainting_network.decode(source_state.image, source_state.encoder_maps, dense)["prediction"]

    def keypoints(self, motion: Motion) -> Tensor:
        return motion["value"]

    def source_motion(self, source_state: TpsmmSource) -> Motion:
        return source_state.kp

    def pose_distance(self, source: Motion, driving: Motion) -> Tensor:
        return keypoint_transfer.pose_distance(source["value"], driving["value"])


MODEL = TpsmmModel

__all__ = ["MODEL", "AVDNetwork", "BGMotionPredictor", "DenseMotionNetwork", "InpaintingNetwork", "KPDetector",
           "TpsmmModel", "TpsmmSource", "build_networks"]
