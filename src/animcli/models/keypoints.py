"""What the keypoint families (FOMM, Monkey-Net) share behind the interface: networks ``kp_detector`` and
``generator`` under their official checkpoint names, and pose comparison by keypoints."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from torch import Tensor, nn

from animcli.common.errors import ModelError
from animcli.models.base import AnimationModel, Motion
from animcli.models.construction import construct
from animcli.models.keypoint_transfer import pose_distance
from animcli.models.state_dicts import load_strict


class KeypointModel(AnimationModel):
    """Families whose motion is a set of keypoints (FOMM, Monkey-Net): networks ``kp_detector`` and
    ``generator``, saved under those names in the official checkpoints; the source state has a ``kp`` motion."""

    #: the motion entry holding the (B, K, 2) keypoint locations
    kp_key: ClassVar[str]
    #: a state-dict key only this family's generator has
    generator_marker: ClassVar[str]
    #: the generator parameter counting its encoder's 2× downsamplings
    generator_depth_key: ClassVar[str]
    kp_detector_class: ClassVar[Callable[..., nn.Module]]
    generator_class: ClassVar[Callable[..., nn.Module]]
    discriminator_class: ClassVar[Callable[..., nn.Module]]

    def __init__(self, config: dict[str, Any], **generator_options: Any) -> None:
        super().__init__(config)
        networks = self.build_networks(config, **generator_options)
        self.kp_detector, self.generator = networks["kp_detector"], networks["generator"]

    @classmethod
    def build_networks(cls, config: dict[str, Any], **generator_options: Any) -> dict[str, nn.Module]:
        """The detector and generator under their checkpoint names, built in the official order (which fixes
        the random initialisation a training run starts from)."""
        return {"kp_detector": cls._build(config, "kp_detector", cls.kp_detector_class),
                "generator": cls._build(config, "generator", cls.generator_class, **generator_options)}

    @classmethod
    def build_discriminator(cls, config: dict[str, Any]) -> nn.Module:
        return cls._build(config, "discriminator", cls.discriminator_class)

    @classmethod
    def _build(cls, config: dict[str, Any], name: str, network: Callable[..., nn.Module],
               **options: Any) -> nn.Module:
        """The official construction: ``<name>_params`` merged with all of ``common_params``."""
        return construct(network, config, f"model_params.{name}_params", "model_params.common_params", **options)

    def size_multiple(self) -> int:
        """Fully convolutional: any size that the generator's downsamplings and the detector's and dense-motion
        network's anti-alias subsampling and hourglass poolings divide exactly."""
        params = self.config["model_params"]
        generator = params["generator_params"]
        multiples = [2 ** generator[self.generator_depth_key]]
        for section in (params["kp_detector_params"], generator["dense_motion_params"]):
            multiples.append(round(1 / section.get("scale_factor", 1)) * 2 ** section["num_blocks"])
        return math.lcm(*multiples)

    @classmethod
    def claims_checkpoint(cls, checkpoint: dict[str, Any]) -> bool:
        generator = checkpoint.get("generator")
        return isinstance(generator, dict) and cls.generator_marker in generator

    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        for name in ("generator", "kp_detector"):
            if name not in checkpoint:
                raise ModelError(f"not a {self.family} checkpoint: it has no {name!r} entry")
        load_strict(self.generator, checkpoint["generator"], "generator")
        load_strict(self.kp_detector, checkpoint["kp_detector"], "kp_detector")

    def keypoints(self, motion: Motion) -> Tensor:
        return motion[self.kp_key]

    def encode_source(self, source: Tensor) -> Any:
        return self.source_state(source, self.source_keypoints(source))

    @abstractmethod
    def source_keypoints(self, source: Tensor) -> Motion:
        """The detector's motion for a (1, 3, S, S) source image."""

    @abstractmethod
    def source_state(self, source: Tensor, kp: Motion) -> Any:
        """The family's source state around keypoints ``kp`` (the generator's source encodings)."""

    def official_frame_source(self, source: Tensor, source_state: Any) -> Any:
        # The official demos detect the source keypoints once; their generators re-encode the source per frame.
        return self.source_state(source, source_state.kp)

    def source_motion(self, source_state: Any) -> Motion:
        return source_state.kp

    def pose_distance(self, source: Motion, driving: Motion) -> Tensor:
        return pose_distance(source[self.kp_key], driving[self.kp_key])
