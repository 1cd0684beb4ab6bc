"""What `animcli crop` is asked to do: its options, checked, and the parsing of --face and --box."""

from __future__ import annotations

from dataclasses import dataclass

from animcli.common.errors import AnimcliError
from animcli.crop.boxes import Box
from animcli.crop.detectors import DETECTORS
from animcli.crop.selection import FaceSelection

AUTO = "auto"


class NoFaceError(AnimcliError):
    """Nothing to crop: no face (or no motion) found."""


@dataclass(frozen=True)
class CropOptions:
    """The knobs of `animcli crop` (see its --help)."""

    size: int = 256
    increase: float = 0.1
    iou_with_initial: float = 0.25
    min_frames: int | None = None  # None: one second of video
    detector: str = AUTO
    face: str | int | FaceSelection = "largest"  # FaceSelection: the --faces syntax (crop.selection)
    box: Box | str | None = None  # a fixed box, "auto" (motion), or None (detect faces)
    every: int = 1
    track: bool = False  # the crop follows the face (per-frame squares) instead of one fixed square per segment

    def __post_init__(self) -> None:
        if self.size < 16:
            raise AnimcliError(f"crop size must be at least 16 pixels, got {self.size}")
        if self.increase < 0:
            raise AnimcliError(f"--increase must be >= 0, got {self.increase}")
        if not 0 <= self.iou_with_initial < 1:
            raise AnimcliError(f"--iou-with-initial must be in [0, 1), got {self.iou_with_initial}")
        if self.every < 1:
            raise AnimcliError(f"--every must be >= 1, got {self.every}")
        if self.detector not in DETECTORS:
            raise AnimcliError(f"unknown detector {self.detector!r} (choose from {', '.join(DETECTORS)})")
        if self.track and self.box is not None:
            raise AnimcliError("--track follows a detected face; --box crops a fixed region: use one of them")


def parse_face(text: str) -> str | int:
    """`largest`, `all`, or a face index (0 = leftmost)."""
    if text in ("largest", "all"):
        return text
    if text.isdigit():
        return int(text)
    raise AnimcliError(f"--face must be largest, all or a face index (0 = leftmost), got {text!r}")


def parse_box(text: str) -> Box | str:
    """`x,y,w,h` in pixels of the input, or `auto`."""
    if text == AUTO:
        return AUTO
    try:
        x, y, width, height = (float(part) for part in text.split(","))
    except ValueError:
        raise AnimcliError(f"--box must be x,y,w,h (pixels) or auto, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise AnimcliError(f"--box needs a positive width and height, got {text!r}")
    return Box.from_xywh(x, y, width, height)
