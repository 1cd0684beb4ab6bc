"""LIA-X constructor facts (latent sizes, widths, which resolution levels exist) from a config or a state dict.

The official code hard-wires a 512 px topology: an encoder of seven halvings (block2…block7, block_512) and a
decoder of seven levels (stems ``_512``, ``2``…``7``). Here the kept halving blocks and levels are listed, so
reduced models (the fixtures drop constant-width levels, SPEC §12) and the published one share the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from animcli.common.errors import ModelError

#: the encoder's halving ResBlocks in forward order, with (input, output) indices into the four encoder widths.
OFFICIAL_BLOCKS: Mapping[str, tuple[int, int]] = {
    "block2": (0, 1), "block3": (1, 2), "block4": (2, 3), "block5": (3, 3), "block6": (3, 3), "block7": (3, 3),
}
#: the decoder's level stems, low to high resolution (``_512`` was added when the model moved to 512 px).
OFFICIAL_LEVELS = ("_512", "2", "3", "4", "5", "6", "7")
#: blocks that change width: a model without them could not blend encoder features into decoder maps.
REQUIRED_BLOCKS = ("block2", "block3", "block4")
OFFICIAL_BLUR_KERNEL = (1, 3, 3, 1)
#: the official constructor: widths [64, 128, 256, 512]·scale, style_dim 512·scale (published scale 2).
BASE_WIDTHS = (64, 128, 256, 512)
BASE_STYLE_DIM = 512
#: the decoder's FlowResBlocks normalise with GroupNorm(32, C).
NORM_GROUPS = 32
#: the 4×4 map the encoder's last conv collapses into the latent code.
BOTTOM_SIZE = 4
#: keys of the official inference configs (config/*/*.yaml of the LIA-X repository).
OFFICIAL_CONFIG_KEYS = frozenset({"size", "motion_dim", "scale"})
#: keys of a reduced-model description (SPEC §12): constructor arguments and the kept blocks and levels.
REDUCED_CONFIG_KEYS = frozenset({"constructor", "encoder_widths", "encoder_blocks_kept", "decoder_stages_kept"})
#: state-dict entries only a LIA-X generator has.
SIGNATURE_KEYS = ("dec.direction.weight", "enc.enc_2r.block1.0.weight", "enc.enc_r2t.0.weight")
BLOCK_PREFIX = "enc.enc_2r."


@dataclass(frozen=True)
class LiaxArchitecture:
    style_dim: int = BASE_STYLE_DIM * 2
    motion_dim: int = 40
    encoder_widths: tuple[int, int, int, int] = tuple(2 * w for w in BASE_WIDTHS)  # type: ignore[assignment]
    encoder_blocks: tuple[str, ...] = tuple(OFFICIAL_BLOCKS)
    decoder_levels: tuple[str, ...] = OFFICIAL_LEVELS
    blur_kernel: tuple[int, ...] = OFFICIAL_BLUR_KERNEL

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LiaxArchitecture:
        """From our config (``liax-512.json``), an official inference yaml (size, motion_dim, scale) or a
        reduced-model description (``constructor`` + kept blocks and levels, as the reference fixtures')."""
        try:
            if REDUCED_CONFIG_KEYS <= config.keys():
                architecture = cls.reduced(config)
            elif OFFICIAL_CONFIG_KEYS <= config.keys() and "encoder_widths" not in config:
                architecture = cls.official(int(config["motion_dim"]), int(config["scale"]))
            else:
                defaults = cls()
                architecture = cls(
                    style_dim=int(config.get("style_dim", defaults.style_dim)),
                    motion_dim=int(config.get("motion_dim", defaults.motion_dim)),
                    encoder_widths=tuple(int(w) for w in config.get("encoder_widths", defaults.encoder_widths)),
                    encoder_blocks=tuple(str(b) for b in config.get("encoder_blocks", defaults.encoder_blocks)),
                    decoder_levels=tuple(str(s) for s in config.get("decoder_levels", defaults.decoder_levels)),
                    blur_kernel=tuple(int(t) for t in config.get("blur_kernel", OFFICIAL_BLUR_KERNEL)),
                )
            size = int(config.get("size", config.get("input_size", architecture.size)))
        except (TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"LIA-X config has a malformed value ({exc})") from None
        architecture.validate()
        if size != architecture.size:
            raise ModelError(f"LIA-X config says size {size}, but its levels make a {architecture.size} px model")
        return architecture

    @classmethod
    def official(cls, motion_dim: int, scale: int) -> LiaxArchitecture:
        """``Generator(motion_dim, scale)`` of the official code (published: 40, 2)."""
        return cls(style_dim=BASE_STYLE_DIM * scale, motion_dim=motion_dim,
                   encoder_widths=tuple(w * scale for w in BASE_WIDTHS))  # type: ignore[arg-type]

    @classmethod
    def reduced(cls, config: Mapping[str, Any]) -> LiaxArchitecture:
        """A reduced official model: the constructor's arguments plus the blocks and levels it keeps."""
        constructor = config["constructor"]
        scale = int(constructor.get("scale", 1))
        return cls(style_dim=int(constructor.get("style_dim", BASE_STYLE_DIM)) * scale,
                   motion_dim=int(constructor["motion_dim"]),
                   encoder_widths=tuple(int(w) for w in config["encoder_widths"]),  # type: ignore[arg-type]
                   encoder_blocks=tuple(b for b in config["encoder_blocks_kept"] if b in OFFICIAL_BLOCKS),
                   decoder_levels=tuple(str(stem) for stem in config["decoder_stages_kept"]))

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> LiaxArchitecture:
        """The architecture a generator state dict was saved from, read off its key names and tensor shapes."""
        try:
            motion_dim, style_dim = state["enc.enc_r2t.0.weight"].shape
            blocks = tuple(name for name in OFFICIAL_BLOCKS if f"{BLOCK_PREFIX}{name}.0.conv1.0.weight" in state)
            widths = [state[f"{BLOCK_PREFIX}block1.0.weight"].shape[0]]
            widths += [state[f"{BLOCK_PREFIX}{name}.0.conv1.0.weight"].shape[0] for name in REQUIRED_BLOCKS]
            levels = tuple(stem for stem in OFFICIAL_LEVELS if f"dec.flow{stem}.bias" in state)
        except (KeyError, ValueError, AttributeError):
            raise ModelError("checkpoint's LIA-X generator does not have the official layout") from None
        architecture = cls(style_dim=int(style_dim), motion_dim=int(motion_dim),
                           encoder_widths=tuple(int(w) for w in widths),  # type: ignore[arg-type]
                           encoder_blocks=blocks, decoder_levels=levels)
        architecture.validate()
        return architecture

    def validate(self) -> None:
        if len(self.encoder_widths) != len(BASE_WIDTHS):
            raise ModelError(f"LIA-X encoder_widths needs {len(BASE_WIDTHS)} entries, got {len(self.encoder_widths)}")
        unknown = [b for b in self.encoder_blocks if b not in OFFICIAL_BLOCKS]
        if unknown or list(self.encoder_blocks) != sorted(self.encoder_blocks, key=list(OFFICIAL_BLOCKS).index):
            raise ModelError("LIA-X encoder_blocks must be official block names in order "
                             f"({', '.join(OFFICIAL_BLOCKS)})")
        missing = [b for b in REQUIRED_BLOCKS if b not in self.encoder_blocks]
        if missing:
            raise ModelError(f"LIA-X encoder_blocks lacks {', '.join(missing)} (they set the feature widths)")
        if (self.decoder_levels[:1] != OFFICIAL_LEVELS[:1]
                or list(self.decoder_levels) != sorted(set(self.decoder_levels), key=OFFICIAL_LEVELS.index)
                or not set(self.decoder_levels) <= set(OFFICIAL_LEVELS)):
            raise ModelError(f"LIA-X decoder_levels must be official stems in order, starting with "
                             f"{OFFICIAL_LEVELS[0]!r} ({', '.join(OFFICIAL_LEVELS)})")
        if len(self.decoder_levels) != len(self.encoder_blocks) + 1:
            # Every level warps one encoder feature map: block1's and each kept block's output.
            raise ModelError(f"LIA-X has {len(self.encoder_blocks) + 1} encoder feature maps but "
                             f"{len(self.decoder_levels)} decoder levels")
        if self.style_dim < self.motion_dim:
            raise ModelError(f"LIA-X style_dim ({self.style_dim}) must be at least motion_dim ({self.motion_dim}): "
                             "the motion dictionary is an orthonormal basis in the latent space")
        odd = [w for w in self.encoder_widths if w % NORM_GROUPS]
        if odd:
            raise ModelError(f"LIA-X widths must be multiples of {NORM_GROUPS} (GroupNorm groups), got {odd}")

    @property
    def size(self) -> int:
        """Input and output resolution: the encoder halves it once per kept block and once more in block_512."""
        return BOTTOM_SIZE * 2 ** (len(self.encoder_blocks) + 1)

    def block_widths(self, block: str) -> tuple[int, int]:
        first, second = OFFICIAL_BLOCKS[block]
        return self.encoder_widths[first], self.encoder_widths[second]

    def feature_widths(self) -> list[int]:
        """Widths of the encoder feature maps the decoder warps, low to high resolution (= the levels' widths)."""
        return [self.block_widths(block)[1] for block in reversed(self.encoder_blocks)] + [self.encoder_widths[0]]

    def to_config(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "style_dim": self.style_dim,
            "motion_dim": self.motion_dim,
            "encoder_widths": list(self.encoder_widths),
            "encoder_blocks": list(self.encoder_blocks),
            "decoder_levels": list(self.decoder_levels),
        }
