"""Boxes in pixel coordinates: detections, face tubes, and the square crops cut from frames."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

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
    """A square region of a frame (x, y, side in pixels); it may reach past the frame edges, which are
    then replicated, so that the crop is never squashed."""

    x: int
    y: int
    side: int

    @classmethod
    def around(cls, tube: Box, increase: float, frame_size: tuple[int, int]) -> CropBox:
        """The official crop rule made square: enlarge the tube by `increase` on every side (the shorter
        side more, up to the longer one), then slide the square into the frame where it fits.

        `frame_size` is (W, H).
        """
        side = max(tube.width, tube.height) * (1 + 2 * increase)
        centre_x, centre_y = (tube.left + tube.right) / 2, (tube.top + tube.bottom) / 2
        side_px = max(int(round(side)), 2)
        x = _slide_into(int(round(centre_x - side / 2)), side_px, frame_size[0])
        y = _slide_into(int(round(centre_y - side / 2)), side_px, frame_size[1])
        return cls(x, y, side_px)

    @classmethod
    def from_user_box(cls, box: Box, frame_size: tuple[int, int]) -> CropBox:
        """A user's box squared about its centre (grown, never cut), with no margin added."""
        return cls.around(box, 0.0, frame_size)

    def crop(self, frame: np.ndarray, size: int) -> np.ndarray:
        """The size×size crop of `frame`."""
        height, width = frame.shape[:2]
        pad_left, pad_top = max(-self.x, 0), max(-self.y, 0)
        pad_right, pad_bottom = max(self.x + self.side - width, 0), max(self.y + self.side - height, 0)
        if pad_left or pad_top or pad_right or pad_bottom:
            frame = cv2.copyMakeBorder(frame, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_REPLICATE)
        x, y = self.x + pad_left, self.y + pad_top
        return resize_square(frame[y:y + self.side, x:x + self.side], size)

    def as_xywh(self) -> list[int]:
        return [self.x, self.y, self.side, self.side]


def _slide_into(start: int, length: int, extent: int) -> int:
    """Move [start, start+length) inside [0, extent) when it fits; otherwise keep it centred as given."""
    if length > extent:
        return start
    return min(max(start, 0), extent - length)
