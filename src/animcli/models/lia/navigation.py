"""What LIA and LIA-X share behind the interface: latent-space navigation.

Motion is an image's motion code α (its coordinates in the learned orthonormal motion dictionary); the
source's latent code is moved along the dictionary (``Direction.navigate``) and a flow decoder renders it,
warping the source's encoder features. Both generators expose ``enc.motion(images) → α`` and
``dec(latent, feats) → image`` in [-1, 1]; the source state holds ``feats`` and the source's own ``alpha``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from animcli.common.choices import TRANSFER_MODES, Normalization, TransferMode
from animcli.common.errors import ModelError
from animcli.models.base import AnimationModel, Motion
from animcli.models.lia.layers import at_least_float32
from animcli.models.state_dicts import load_strict


def to_signed_range(images: Tensor) -> Tensor:
    """[0, 1] images → the [-1, 1] range LIA was trained on (the official (x − 0.5)·2)."""
    return (images - 0.5) * 2


class LatentNavigationModel(AnimationModel):
    supports_adapt_scale = False
    #: "clip": the official demos stretch the whole clip by its global min/max (pipeline.stretch_clip_uint8).
    normalizations: tuple[Normalization, ...] = ("frame", "clip")
    smoothable_motion = ("alpha",)
    gen: nn.Module
    arch: Any  # the family's architecture facts (``size``)

    @classmethod
    def config_default_mode(cls, config: dict[str, Any]) -> TransferMode:
        mode = config.get("default_mode", TRANSFER_MODES[0])
        if mode not in TRANSFER_MODES:
            raise ModelError(f"{cls.family} config default_mode must be {' or '.join(TRANSFER_MODES)}, got {mode!r}")
        return mode

    def load_generator(self, state_dict: dict[str, Tensor], *, assign: bool = False) -> None:
        """Strictly load the generator; a checkpoint that does not fit is refused in one line."""
        load_strict(self.gen, state_dict, self.family, assign=assign)

    @property
    def size(self) -> int:
        return self.arch.size

    def encode_driving(self, frames: Tensor) -> Motion:
        return {"alpha": self.gen.enc.motion(to_signed_range(frames))}

    def generate_signed(self, source_state: Any, motion: Motion) -> Tensor:
        """Unclamped generator output (B, 3, S, S) in the [-1, 1] range."""
        latent = motion["latent"]
        feats = [feat.expand(latent.shape[0], -1, -1, -1) for feat in source_state.feats]
        return self.gen.dec(latent, feats)

    def generate(self, source_state: Any, motion: Motion) -> Tensor:
        # Per-frame clamp, so frames can be streamed (the official demos stretch the whole clip instead:
        # pipeline.stretch_clip_uint8, affine-invariant, so it gives the same frames from this output).
        return (at_least_float32(self.generate_signed(source_state, motion)).clamp(-1, 1) + 1) / 2

    def source_motion(self, source_state: Any) -> Motion:
        return {"alpha": source_state.alpha}

    def pose_distance(self, source: Motion, driving: Motion) -> Tensor:
        # The dictionary is orthonormal, so this is also the distance of the latent displacements D(α).
        return torch.linalg.vector_norm(at_least_float32(driving["alpha"] - source["alpha"]), dim=1)
