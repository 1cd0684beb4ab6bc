"""What the keypoint families (FOMM, Monkey-Net) share behind the interface: networks ``kp_detector`` and
``generator`` under their official checkpoint names, and pose comparison by keypoints."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from animcli.errors import ModelError
from animcli.models.base import AnimationModel, Motion
from animcli.models.keypoint_transfer import pose_distance
from animcli.models.state_dicts import load_strict


class KeypointModel(AnimationModel):
    """Families whose motion is a set of keypoints (FOMM, Monkey-Net): networks ``kp_detector`` and
    ``generator``, saved under those names in the official checkpoints; the source state has a ``kp`` motion."""

    #: the motion entry holding the (B, K, 2) keypoint locations
    kp_key: ClassVar[str]
    #: a state-dict key only this family's generator has
    generator_marker: ClassVar[str]
    kp_detector: nn.Module
    generator: nn.Module

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

    def source_motion(self, source_state: Any) -> Motion:
        return source_state.kp

    def pose_distance(self, source: Motion, driving: Motion) -> Tensor:
        return pose_distance(source[self.kp_key], driving[self.kp_key])
