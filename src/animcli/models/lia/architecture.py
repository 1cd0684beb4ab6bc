"""LIA constructor facts (size, latent sizes, channel table) read from a config dict.

The official code hard-codes the channel table and the 512 rows of the motion dictionary; here both come from
the config, so the reduced-width fixtures and the published 256 (or 512) models use the same code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from animcli.common.errors import ModelError

#: channels per resolution of the official networks (encoder, decoder and discriminator).
OFFICIAL_CHANNELS: Mapping[int, int] = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64,
                                        512: 32, 1024: 16}
OFFICIAL_BLUR_KERNEL = (1, 3, 3, 1)
#: keys whose presence (together) marks a LIA config: the official Generator's constructor arguments.
CONFIG_KEYS = frozenset({"size", "style_dim", "motion_dim"})
#: the official decoder/discriminator multiply the channels of resolutions ≥ 64 by channel_multiplier.
MULTIPLIED_FROM = 64


@dataclass(frozen=True)
class LiaArchitecture:
    size: int
    style_dim: int = 512
    motion_dim: int = 20
    blur_kernel: tuple[int, ...] = OFFICIAL_BLUR_KERNEL
    channels: Mapping[int, int] = field(default_factory=lambda: dict(OFFICIAL_CHANNELS))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LiaArchitecture:
        missing = CONFIG_KEYS - config.keys()
        if missing:
            raise ModelError(f"LIA config lacks {', '.join(sorted(missing))}")
        try:
            architecture = cls(
                size=int(config["size"]),
                style_dim=int(config["style_dim"]),
                motion_dim=int(config["motion_dim"]),
                blur_kernel=tuple(int(tap) for tap in config.get("blur_kernel", OFFICIAL_BLUR_KERNEL)),
                channels={int(res): int(ch) for res, ch in config.get("channels", OFFICIAL_CHANNELS).items()},
            )
            direction_rows = int(config.get("direction_rows", architecture.style_dim))
            channel_multiplier = int(config.get("channel_multiplier", 1))
        except (TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"LIA config has a malformed value ({exc})") from None
        architecture.validate(direction_rows, channel_multiplier)
        return architecture

    def validate(self, direction_rows: int, channel_multiplier: int) -> None:
        if self.size < 8 or self.size & (self.size - 1):
            raise ModelError(f"LIA size must be a power of two ≥ 8, got {self.size}")
        absent = [r for r in self.resolutions(4) if r not in self.channels]
        if absent:
            raise ModelError(f"LIA channel table has no entry for resolution(s) {absent}")
        if direction_rows != self.style_dim:
            # The decoder adds dictionary directions to the appearance code, so both live in one space.
            raise ModelError(f"LIA direction_rows ({direction_rows}) must equal style_dim ({self.style_dim})")
        if channel_multiplier != 1 and self.size >= MULTIPLIED_FROM:
            # The decoder blends encoder features (never multiplied) into its own maps: only 1 fits.
            raise ModelError("LIA only runs with channel_multiplier 1 (as every published model)")

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    def resolutions(self, lowest: int) -> list[int]:
        """Resolutions from ``lowest`` up to the image size, ascending."""
        return [2**i for i in range(int(math.log2(lowest)), self.log_size + 1)]

    def channels_at(self, resolution: int) -> int:
        return self.channels[resolution]
