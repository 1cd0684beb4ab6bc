"""The published LIA-X model's interpretable motion directions, and the official manipulation schedule.

Each name is a column of the motion code α (an index into the 40-direction dictionary). Names and ranges come
from the official repository's configs and Gradio sliders (the 14 controls, in the repository's order); the
other 26 directions carry no label there. Signs are not documented beyond the labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from animcli.common.errors import ModelError


@dataclass(frozen=True)
class NamedDirection:
    name: str
    index: int
    group: str
    label: str  # the official label(s)
    slider: tuple[float, float]  # the official Gradio slider's range


NAMED_DIRECTIONS = (
    NamedDirection("yaw", 37, "head", "yaw1, yaw (only head)", (-1.0, 0.5)),
    NamedDirection("yaw2", 39, "head", "yaw2, yaw (head + shoulder)", (-1.0, 0.5)),
    NamedDirection("pitch", 28, "head", "pitch", (-1.0, 0.5)),
    NamedDirection("roll", 15, "head", "roll1", (-0.5, 0.5)),
    NamedDirection("roll2", 33, "head", "roll2", (-0.5, 0.5)),
    NamedDirection("neck", 31, "head", "moving neck left and right", (-0.5, 0.5)),
    NamedDirection("pout", 6, "mouth", "pout", (-0.4, 0.4)),
    NamedDirection("mouth", 25, "mouth", "open->close mouth, mouth (wide smile)", (-0.4, 0.4)),
    NamedDirection("mouth-o", 16, "mouth", '"O" mouth', (-0.4, 0.4)),
    NamedDirection("cheek", 19, "mouth", "apple cheek, smile, mouth (smirk)", (-0.4, 0.4)),
    NamedDirection("eyes", 13, "eyes", "close->open eyes", (-0.4, 0.4)),
    NamedDirection("eyebrows", 24, "eyes", "raise/frown eyebrows", (-0.4, 0.4)),
    NamedDirection("eyeballs", 17, "eyes", "eyeballs1", (-0.2, 0.2)),
    NamedDirection("eyeballs2", 26, "eyes", "eyeballs2", (-0.2, 0.2)),
)
#: the official labels with a number, accepted as aliases of the names above.
ALIASES = {"yaw1": "yaw", "roll1": "roll", "eyeballs1": "eyeballs"}
DIRECTION_INDEX: Mapping[str, int] = {
    **{d.name: d.index for d in NAMED_DIRECTIONS},
    **{alias: next(d.index for d in NAMED_DIRECTIONS if d.name == name) for alias, name in ALIASES.items()},
}
#: the official manipulation swings the same side twice when a mouth direction is edited, else both sides.
MOUTH_DIRECTIONS = frozenset(d.index for d in NAMED_DIRECTIONS if d.group == "mouth")

#: the official manipulation video: four phases of 16 frames (out, back, out again, back), written at 12 fps.
SWEEP_PHASE_FRAMES = 16
SWEEP_FPS = 12.0


def direction_index(name: str, motion_dim: int) -> int:
    """A direction by number (0 … motion_dim − 1) or by name."""
    key = name.strip().lower()
    if key.lstrip("-").isdigit():
        index = int(key)
        if not 0 <= index < motion_dim:
            raise ModelError(f"motion direction {index} is out of range (0 … {motion_dim - 1})")
        return index
    if key not in DIRECTION_INDEX:
        raise ModelError(f"unknown motion direction {name!r} (a number 0 … {motion_dim - 1} or one of "
                         f"{', '.join(DIRECTION_INDEX)})")
    return DIRECTION_INDEX[key]


def sweep_schedule(amplitudes: np.ndarray, indices: list[int]) -> np.ndarray:
    """(64, n) offsets of the official linear manipulation for directions ``indices`` with ``amplitudes``.

    Accumulated in float64 by repeated addition of amplitude/16 exactly as the official loop does (so values
    are not exact multiples): out to the amplitude, back to ~0, then out to the opposite side and back — or,
    when a mouth direction is swept, the same side a second time.
    """
    stride = np.asarray(amplitudes, dtype=np.float64) / SWEEP_PHASE_FRAMES
    mouth_swept = any(index in MOUTH_DIRECTIONS and amplitude != 0
                      for index, amplitude in zip(indices, stride, strict=True))
    second_sign = 1.0 if mouth_swept else -1.0
    offsets = np.zeros_like(stride)
    schedule = []
    for sign in (1.0, -1.0, second_sign, -second_sign):
        for _ in range(SWEEP_PHASE_FRAMES):
            offsets = offsets + sign * stride
            schedule.append(offsets)
    return np.stack(schedule)
