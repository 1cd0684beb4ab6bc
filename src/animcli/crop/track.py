"""`crop --track`: a crop that follows the face instead of one fixed box per segment.

Each segment's square has one size (the face's median size, enlarged as for a still image) and a centre that
follows the detected face from frame to frame, smoothed over time so the crop glides instead of shaking with
the detector's noise. The face is therefore framed in every frame as `crop` frames a still image, even when
it drifts across the picture. The cost: head translation is removed from the driving video (relative mode
then transfers only rotation, expression and scale), which is why the fixed box stays the default.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.signal import savgol_filter

from animcli.crop.boxes import CropBox, shift_inside
from animcli.crop.tubes import Segment, Trajectory
from animcli.media import resize

#: The crop's path is a quadratic fitted over this long a window (seconds): detector noise goes, drift stays.
PATH_SMOOTHING_SECONDS = 1.0


@dataclass(frozen=True)
class TrackedSegment(Segment):
    """A segment whose square (side ``side``) moves: ``corners[i]`` is its top-left (x, y) in frame start + i.
    ``crop_box`` is its first frame's square, rounded (for listings)."""

    side: float = 0.0
    corners: tuple[tuple[float, float], ...] = ()

    def crop_frame(self, frame: np.ndarray, index: int, size: int) -> np.ndarray:
        x, y = self.corners[index - self.start]
        return crop_subpixel(frame, x, y, self.side, size)

    def boxes(self) -> list[list[float]]:
        """Every frame's square as [x, y, side], pixels."""
        return [[round(x, 2), round(y, 2), round(self.side, 2)] for x, y in self.corners]


def tracked_segment(trajectory: Trajectory, increase: float, fps: float, frame_size: tuple[int, int]
                    ) -> TrackedSegment:
    """The moving square of one face trajectory; frames without a detection are interpolated."""
    indices = np.array(sorted(trajectory.boxes))
    boxes = [trajectory.boxes[index] for index in indices]
    frames = np.arange(trajectory.start, trajectory.end + 1)
    centre_x = np.interp(frames, indices, [(box.left + box.right) / 2 for box in boxes])
    centre_y = np.interp(frames, indices, [(box.top + box.bottom) / 2 for box in boxes])
    # Like a still crop: a square of real pixels, never larger than the frame's shorter side.
    side = min(float(np.median([max(box.width, box.height) for box in boxes])) * (1 + 2 * increase), *frame_size)
    window = _odd_window(round(PATH_SMOOTHING_SECONDS * fps), len(frames))
    if window >= 5:
        centre_x = savgol_filter(centre_x, window, 2, mode="interp")
        centre_y = savgol_filter(centre_y, window, 2, mode="interp")
    corners = tuple((shift_inside(cx - side / 2, side, frame_size[0]), shift_inside(cy - side / 2, side, frame_size[1]))
                    for cx, cy in zip(centre_x, centre_y, strict=True))
    first = CropBox(int(corners[0][0]), int(corners[0][1]), max(int(side), 1))  # floored: stays inside
    return TrackedSegment(trajectory.start, trajectory.end, first, side=side, corners=corners)


def crop_subpixel(frame: np.ndarray, x: float, y: float, side: float, size: int) -> np.ndarray:
    """The size×size image of the square (x, y, side), at sub-pixel precision so a gliding crop does not
    step; area-averaged when shrinking."""
    scale = size / side
    height, width = frame.shape[:2]
    factor_x = factor_y = 1.0
    if scale < 1:  # shrink by area averaging first, so only a near-1 sub-pixel resampling remains
        small = resize(frame, max(round(width * scale), 1), max(round(height * scale), 1))
        factor_x, factor_y = small.shape[1] / width, small.shape[0] / height
        frame = small
    matrix = np.float32([[scale / factor_x, 0, -x * scale], [0, scale / factor_y, -y * scale]])
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _odd_window(length: int, available: int) -> int:
    """The largest odd window up to ``length`` that fits in ``available`` frames."""
    window = min(length, available)
    return window if window % 2 else window - 1

