"""Boxes in pixel coordinates: detections, face tubes, and the square crops cut from frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animcli.common.errors import AnimcliError
from animcli.media import resize_square


@dataclass(frozen=True)
class Box:
    """An axis-aligned box by its corners (left, top, right, bottom), in pixels of the full frame."""

    left: float
    top: float
    right: float
    bottom: float

    @classmethod
    def from_xywh(cls, x: float, y: float, width: float, height: float) -> Box:
        return cls(x, y, x + width, y + height)

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def iou(self, other: Box) -> float:
        """Intersection over union with the official crop script's inclusive-pixel convention (+1)."""
        inter_w = min(self.right, other.right) - max(self.left, other.left) + 1
        inter_h = min(self.bottom, other.bottom) - max(self.top, other.top) + 1
        intersection = max(inter_w, 0.0) * max(inter_h, 0.0)
        own = (self.width + 1) * (self.height + 1)
        theirs = (other.width + 1) * (other.height + 1)
        return intersection / (own + theirs - intersection)

    def overlap_area(self, other: Box) -> float:
        return Box(max(self.left, other.left), max(self.top, other.top),
                   min(self.right, other.right), min(self.bottom, other.bottom)).area

    def union(self, other: Box) -> Box:
        """The smallest box containing both."""
        return Box(min(self.left, other.left), min(self.top, other.top),
                   max(self.right, other.right), max(self.bottom, other.bottom))

    def scaled(self, factor: float) -> Box:
        """The box in a frame resized by `factor`."""
        return Box(self.left * factor, self.top * factor, self.right * factor, self.bottom * factor)

    def reframed(self, scale: float, shift_up: float) -> Box:
        """Grown by `scale` about its centre, then moved up by `shift_up` of its original height."""
        centre_x = (self.left + self.right) / 2
        centre_y = (self.top + self.bottom) / 2 - shift_up * self.height
        half_w, half_h = self.width * scale / 2, self.height * scale / 2
        return Box(centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h)


@dataclass(frozen=True)
class CropBox:
    """A square region of a frame (x, y, side in pixels), always wholly inside the frame: a crop is made of
    real pixels only, never of replicated edges, and is never squashed."""

    x: int
    y: int
    side: int

    @classmethod
    def around(cls, tube: Box, increase: float, frame_size: tuple[int, int]) -> CropBox:
        """The official crop rule made square: enlarge the tube by `increase` on every side (the shorter
        side more, up to the longer one); a square bigger than the frame shrinks to its shorter side, and the
        square is then shifted into the frame, staying as close to the tube's centre as the frame allows.

        `frame_size` is (W, H).
        """
        width, height = frame_size
        side = max(min(round(max(tube.width, tube.height) * (1 + 2 * increase)), width, height), 1)
        centre_x, centre_y = (tube.left + tube.right) / 2, (tube.top + tube.bottom) / 2
        x = shift_inside(round(centre_x - side / 2), side, width)
        y = shift_inside(round(centre_y - side / 2), side, height)
        return cls(x, y, side)

    @classmethod
    def from_user_box(cls, box: Box, frame_size: tuple[int, int]) -> CropBox:
        """A user's box squared about its centre, with no margin added (then fitted like any other box)."""
        width, height = frame_size
        if box.right <= 0 or box.bottom <= 0 or box.left >= width or box.top >= height:
            raise AnimcliError(f"--box {_xywh_text(box)} lies outside the {width}x{height} frame")
        return cls.around(box, 0.0, frame_size)

    def crop(self, frame: np.ndarray, size: int) -> np.ndarray:
        """The size×size crop of `frame`."""
        return resize_square(frame[self.y:self.y + self.side, self.x:self.x + self.side], size)

    def as_xywh(self) -> list[int]:
        return [self.x, self.y, self.side, self.side]


def shift_inside(start: float, length: float, extent: int) -> float:
    """The start of [start, start+length) moved just enough to lie inside [0, extent) (length <= extent)."""
    return min(max(start, 0), extent - length)


def _xywh_text(box: Box) -> str:
    return ",".join(f"{value:g}" for value in (box.left, box.top, box.width, box.height))
