"""LIA behind the common :class:`AnimationModel` interface.

Motion is the driving frame's motion magnitudes α (its coordinates in the learned direction dictionary);
transfer turns them into the latent every decoder layer is styled with. The source's appearance code, its
feature pyramid and its own α are computed once per source (the official demo re-encodes the source for
every frame: same numbers, more work; see `animcli bench`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from animcli.common.errors import ModelError
from animcli.models.base import Motion, TransferOptions
from animcli.models.configs import resolve_config, shipped_config_names
from animcli.models.lia.architecture import CONFIG_KEYS, OFFICIAL_BLUR_KERNEL, LiaArchitecture
from animcli.models.lia.generator import Generator
from animcli.models.lia.navigation import LatentNavigationModel, to_signed_range

#: state-dict entries only a LIA generator has (the motion dictionary and the appearance encoder's stem).
SIGNATURE_KEYS = ("dec.direction.weight", "enc.net_app.convs.0.0.weight")
#: shipped configs ``lia-<model>.json`` hold the official demo's mode per model (ted absolute, others relative).
SHIPPED_CONFIG_PREFIX = "lia-"


@dataclass
class LiaSourceState:
    """Everything LIA derives from the source image alone."""

    wa: Tensor  # (1, D) appearance code
    feats: list[Tensor]  # encoder features, 8×8 … S×S
    alpha: Tensor  # (1, M) the source's own motion magnitudes


class LiaModel(LatentNavigationModel):
    family = "lia"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.arch = LiaArchitecture.from_config(config)
        self.gen = Generator(self.arch)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def claims_config(cls, config: dict[str, Any]) -> bool:
        family = config.get("family")
        # LIA-X configs hold the same constructor keys, so a named family decides.
        return family == cls.family if family is not None else CONFIG_KEYS <= config.keys()

    @classmethod
    def claims_checkpoint(cls, checkpoint: dict[str, Any]) -> bool:
        generator = checkpoint.get("gen")
        return isinstance(generator, dict) and all(key in generator for key in SIGNATURE_KEYS)

    @classmethod
    def infer_config(cls, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """A config read off the generator's tensor shapes, for checkpoints given without one.

        Shapes cannot tell vox from ted; the transfer mode comes from the training arguments' dataset when the
        checkpoint pickled them (trainer checkpoints do), else the family default (relative).
        """
        if not cls.claims_checkpoint(checkpoint):
            raise ModelError("checkpoint has no LIA generator ('gen' state dict)")
        try:
            config = shape_facts(checkpoint["gen"])
        except (KeyError, ValueError, IndexError, AttributeError):
            raise ModelError("checkpoint's LIA generator does not have the official layout") from None
        args = checkpoint.get("args")
        dataset = getattr(args, "dataset", None) if isinstance(args, argparse.Namespace) else None
        return {"family": cls.family, **config, "default_mode": official_mode(dataset)}

    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if not self.claims_checkpoint(checkpoint):
            raise ModelError("checkpoint has no LIA generator ('gen' state dict)")
        self.load_generator(checkpoint["gen"])

    # -- inference ----------------------------------------------------------------------------
    def encode_source(self, source: Tensor) -> LiaSourceState:
        wa, feats = self.gen.enc.appearance(to_signed_range(source))
        return LiaSourceState(wa=wa, feats=feats, alpha=self.gen.enc.motion_of_code(wa))

    def transfer(self, source_state: LiaSourceState, driving: Motion, initial: Motion,
                 options: TransferOptions) -> Motion:
        alpha = driving["alpha"]
        if options.mode == "relative":
            latent = self.gen.dec.latent(source_state.wa, alpha, initial["alpha"], source_state.alpha)
        else:
            latent = self.gen.dec.latent(source_state.wa, alpha)
        return {"latent": latent}


def shape_facts(generator: dict[str, Tensor]) -> dict[str, Any]:
    """Constructor arguments of a LIA generator state dict, read off its tensor shapes."""
    stem_channels = generator["enc.net_app.convs.0.0.weight"].shape[0]
    log_size = len({key.split(".")[3] for key in generator if key.startswith("enc.net_app.convs.")})
    size = 2**log_size
    channels = {size: stem_channels}
    for stage in range(1, log_size - 1):  # ResBlock `stage` halves resolution size >> (stage - 1)
        out_channels, in_channels = generator[f"enc.net_app.convs.{stage}.conv2.1.weight"].shape[:2]
        channels[size >> (stage - 1)] = in_channels
        channels[size >> stage] = out_channels
    motion_dim, style_dim = generator["enc.fc.4.weight"].shape
    return {
        "size": size,
        "style_dim": style_dim,
        "motion_dim": motion_dim,
        "channel_multiplier": 1,
        "blur_kernel": list(OFFICIAL_BLUR_KERNEL),
        "channels": dict(sorted(channels.items())),
        "direction_rows": generator["dec.direction.weight"].shape[0],
    }


def official_mode(model_name: str | None) -> str:
    """Transfer mode the official demo uses for a model name (vox/taichi relative, ted absolute)."""
    if model_name and f"{SHIPPED_CONFIG_PREFIX}{model_name}" in shipped_config_names():
        return resolve_config(f"{SHIPPED_CONFIG_PREFIX}{model_name}").get("default_mode", "relative")
    return "relative"

