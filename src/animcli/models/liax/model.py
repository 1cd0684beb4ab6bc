"""LIA-X behind the common :class:`AnimationModel` interface.

As in LIA, motion is a driving frame's motion code α (its coordinates in the learned direction dictionary)
and transfer turns it into the latent every decoder layer is styled with. LIA-X adds editing: offsets added to
the source's motion code along interpretable directions (head yaw, mouth, eyes…, see ``directions``). The
source's latent code, features and motion code are computed once per run, the dictionary's orthonormal basis Q
once per set of weights (a QR, in float32 since QR has no half-precision kernel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from animcli.common.errors import ModelError
from animcli.models.base import Motion, TransferOptions
from animcli.models.lia.layers import at_least_float32
from animcli.models.lia.navigation import LatentNavigationModel, to_signed_range
from animcli.models.liax.architecture import (
    OFFICIAL_CONFIG_KEYS,
    REDUCED_CONFIG_KEYS,
    SIGNATURE_KEYS,
    LiaxArchitecture,
)
from animcli.models.liax.directions import SWEEP_FPS, direction_index, sweep_schedule
from animcli.models.liax.generator import Generator


@dataclass
class LiaxSourceState:
    """Everything LIA-X derives from the source image alone."""

    code: Tensor  # (1, D) the source's latent code z_s
    feats: list[Tensor]  # encoder features, 8×8 … S×S
    alpha: Tensor  # (1, M) the source's own motion code (unedited)


class LiaxModel(LatentNavigationModel):
    family = "liax"
    supports_edits = True

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.arch = LiaxArchitecture.from_config(config)
        self.gen = Generator(self.arch)
        self._basis: tuple[tuple[int, int, torch.device], Tensor] | None = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def claims_config(cls, config: dict[str, Any]) -> bool:
        family = config.get("family")
        if family is not None:
            return family == cls.family
        return OFFICIAL_CONFIG_KEYS <= config.keys() or REDUCED_CONFIG_KEYS <= config.keys()

    @classmethod
    def claims_checkpoint(cls, checkpoint: dict[str, Any]) -> bool:
        # lia-x.pt is the generator's plain state dict (no 'gen' wrapper as in LIA).
        return all(key in checkpoint for key in SIGNATURE_KEYS)

    @classmethod
    def infer_config(cls, checkpoint: dict[str, Any]) -> dict[str, Any]:
        if not cls.claims_checkpoint(checkpoint):
            raise ModelError("checkpoint is not a LIA-X generator state dict")
        return {"family": cls.family, **LiaxArchitecture.from_state_dict(checkpoint).to_config(),
                "default_mode": "relative"}

    @classmethod
    def from_checkpoint(cls, config: dict[str, Any], checkpoint: dict[str, Any]) -> LiaxModel:
        # Built without storage (0.9 G parameters in the published model) and given the checkpoint's tensors.
        with torch.device("meta"):
            model = cls(config)
        model.load_checkpoint(checkpoint)
        return model

    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if not self.claims_checkpoint(checkpoint):
            raise ModelError("checkpoint is not a LIA-X generator state dict")
        # assign: the model takes the checkpoint's tensors over (memory-mapped when read from a file) instead of
        # copying them, so a 3.6 GB file is not held twice. A converted (safetensors) file also carries its config.
        self.load_generator({key: value for key, value in checkpoint.items() if isinstance(value, Tensor)},
                            assign=True)

    # -- inference ----------------------------------------------------------------------------
    def encode_source(self, source: Tensor) -> LiaxSourceState:
        code, feats = self.gen.enc.appearance(to_signed_range(source))
        return LiaxSourceState(code=code, feats=feats, alpha=self.gen.enc.motion_of_code(code))

    def dictionary_basis(self) -> Tensor:
        """Q (D, M) of the motion dictionary in float32, computed once per set of weights (it depends on them
        only; LIA-X is never trained here). It is not part of the source state: exported graphs take it as a
        constant (ONNX has no QR)."""
        weight = self.gen.dec.direction.weight
        # A new tensor (loading, moving devices) or an in-place change (version counter) invalidates it.
        key = (weight.data_ptr(), weight._version, weight.device)
        if self._basis is None or self._basis[0] != key:
            self._basis = (key, self.gen.dec.direction.basis())
        return self._basis[1]

    def edited_alpha(self, alpha: Tensor, edits: tuple[tuple[int, float], ...]) -> Tensor:
        """α with offsets added at the edited directions (the official α[:, ids] += values, in float32)."""
        alpha = at_least_float32(alpha)
        if not edits:
            return alpha
        indices = torch.tensor([index for index, _ in edits], device=alpha.device)
        offsets = torch.tensor([offset for _, offset in edits], dtype=alpha.dtype, device=alpha.device)
        edited = alpha.clone()
        edited[:, indices] = edited[:, indices] + offsets
        return edited

    def transfer(self, source_state: LiaxSourceState, driving: Motion, initial: Motion,
                 options: TransferOptions) -> Motion:
        direction, basis = self.gen.dec.direction, self.dictionary_basis()
        if options.mode == "relative":
            alpha_source = self.edited_alpha(source_state.alpha, options.edits)
            latent = direction.navigate(source_state.code, driving["alpha"], initial["alpha"], alpha_source, basis)
        else:
            latent = direction.navigate(source_state.code, driving["alpha"], basis=basis)
        return {"latent": latent}

    def motion_direction(self, name: str) -> int:
        return direction_index(name, self.arch.motion_dim)

    def sweep(self, amplitudes: tuple[tuple[int, float], ...]) -> tuple[list[tuple[tuple[int, float], ...]], float]:
        """The official manipulation video (``interpolate_img``): 64 frames at 12 fps."""
        indices = [index for index, _ in amplitudes]
        schedule = sweep_schedule(np.array([amplitude for _, amplitude in amplitudes]), indices)
        return [tuple(zip(indices, row.tolist(), strict=True)) for row in schedule], SWEEP_FPS

    def validate_options(self, options: TransferOptions) -> TransferOptions:
        options = super().validate_options(options)
        if options.edits and options.mode != "relative":
            raise ModelError("--edit changes the source's motion code, which absolute mode does not use; "
                             "use --mode relative")
        return options
