"""Face tubes over a video (the official crop-video.py tracking rule), cut into fixed square crops.

A crop stays fixed for a whole segment, as in the official script: the models read any motion of the frame
as motion of the subject, so the face moves inside a still crop rather than the crop following the face.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from animcli.crop.boxes import Box, CropBox
from animcli.crop.selection import FaceSelection

# Median over this many detections: one misdetected frame cannot stretch the tube.
SMOOTHING_WINDOW = 5


@dataclass(frozen=True)
class Segment:
    """Frames start..end (inclusive) of a video, all cropped with the same square."""

    start: int
    end: int
    crop_box: CropBox

    @property
    def frame_count(self) -> int:
        return self.end - self.start + 1

    def crop_frame(self, frame: np.ndarray, index: int, size: int) -> np.ndarray:
        """The size×size crop of frame ``index`` of the video (a fixed square: the same for every frame)."""
        return self.crop_box.crop(frame, size)


@dataclass
class Trajectory:
    """One face followed over time: split off as soon as it drifts away from where it started."""

    initial: Box
    boxes: dict[int, Box] = field(default_factory=dict)

    # Boxes are added in frame order, so the first and last keys are the ends (O(1) on long videos).
    @property
    def start(self) -> int:
        return next(iter(self.boxes))

    @property
    def end(self) -> int:
        return next(reversed(self.boxes))

    def tube(self) -> Box:
        """Union of the temporally median-filtered boxes."""
        corners = np.array([[b.left, b.top, b.right, b.bottom] for _, b in sorted(self.boxes.items())])
        smoothed = _running_median(corners, SMOOTHING_WINDOW)
        return Box(smoothed[:, 0].min(), smoothed[:, 1].min(), smoothed[:, 2].max(), smoothed[:, 3].max())


def track_faces(detections: Iterable[tuple[int, list[Box]]], iou_with_initial: float,
                max_gap: int, follow: bool = False) -> list[Trajectory]:
    """The official tracking rule over (frame index, boxes) pairs.

    A trajectory lives on while some detection overlaps its *initial* box by more than `iou_with_initial`;
    each detection joins the best-overlapping living trajectory or starts a new one. Unlike the official
    script, a trajectory survives up to `max_gap` frames without any matching detection, so one missed
    detection does not cut a segment. With `follow` (`crop --track`), detections are matched against the
    trajectory's latest box instead, so a face that drifts stays one trajectory.
    """
    living: list[Trajectory] = []
    finished: list[Trajectory] = []

    def anchor(trajectory: Trajectory) -> Box:
        return trajectory.boxes[trajectory.end] if follow else trajectory.initial

    for frame_index, boxes in detections:
        still_living = []
        for trajectory in living:
            matched = any(box.iou(anchor(trajectory)) > iou_with_initial for box in boxes)
            alive = matched or frame_index - trajectory.end <= max_gap
            (still_living if alive else finished).append(trajectory)
        living = still_living
        for box in boxes:
            candidates = [(box.iou(anchor(t)), i) for i, t in enumerate(living)]
            best = max(candidates, default=(0.0, -1))
            if best[0] > iou_with_initial:
                living[best[1]].boxes[frame_index] = box
            else:
                living.append(Trajectory(initial=box, boxes={frame_index: box}))
    return sorted(finished + living, key=lambda t: (t.start, t.initial.left))


def segments_from_trajectories(trajectories: list[Trajectory], increase: float, min_frames: int,
                               frame_size: tuple[int, int]) -> list[Segment]:
    """Segments at least `min_frames` long, each with the square crop around its (enlarged) tube."""
    return [Segment(t.start, t.end, CropBox.around(t.tube(), increase, frame_size))
            for t in trajectories if t.end - t.start + 1 >= min_frames]


def select_faces(boxes: list[Box], face: str | int | FaceSelection) -> list[Box]:
    """`largest`, `all`, the INDEX-th face counted from the left, or a ``FaceSelection`` (``--faces`` syntax)."""
    if isinstance(face, FaceSelection):
        return face.select(boxes)
    if face == "all":
        return boxes
    if face == "largest":
        return [max(boxes, key=lambda b: b.area)] if boxes else []
    by_position = sorted(boxes, key=lambda b: b.left)
    return [by_position[face]] if 0 <= face < len(by_position) else []


class MotionBounds:
    """`--box auto`: the bounding box of what moves across the video, by frame differencing (static camera).

    Pixels count as moving when they change by more than `threshold` grey levels in at least
    `min_fraction` of the frame pairs; the box spans the 1st–99th percentile of those pixels, so isolated
    sensor noise does not widen it.
    """

    ANALYSIS_SIDE = 256

    def __init__(self, threshold: int = 20, min_fraction: float = 0.02) -> None:
        self.threshold = threshold
        self.min_fraction = min_fraction
        self._previous: np.ndarray | None = None
        self._moving_counts: np.ndarray | None = None
        self._pairs = 0
        self._factor = 1.0

    def add(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        self._factor = min(1.0, self.ANALYSIS_SIDE / max(height, width))
        small = cv2.resize(frame, (round(width * self._factor), round(height * self._factor)),
                           interpolation=cv2.INTER_AREA)
        gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0).astype(np.int16)
        if self._previous is not None:
            moving = np.abs(gray - self._previous) > self.threshold
            self._moving_counts = moving.astype(np.int32) + (0 if self._moving_counts is None
                                                              else self._moving_counts)
            self._pairs += 1
        self._previous = gray

    def box(self, within: list[Box] | None = None) -> Box | None:
        """The moving region; with ``within``, only the motion inside those boxes (full-frame pixels)."""
        if self._moving_counts is None:
            return None
        moving = self._moving_counts >= max(1.0, self.min_fraction * self._pairs)
        if within is not None:
            inside = np.zeros_like(moving)
            for region in within:
                part = region.scaled(self._factor)
                inside[max(int(part.top), 0):max(int(np.ceil(part.bottom)), 0),
                       max(int(part.left), 0):max(int(np.ceil(part.right)), 0)] = True
            moving &= inside
        ys, xs = np.nonzero(moving)
        if len(xs) == 0:
            return None
        left, right = np.percentile(xs, [1, 99])
        top, bottom = np.percentile(ys, [1, 99])
        return Box(left, top, right + 1, bottom + 1).scaled(1 / self._factor)


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Median over a centred window along axis 0 (edges use the available neighbours)."""
    half = window // 2
    return np.stack([np.median(values[max(i - half, 0):i + half + 1], axis=0) for i in range(len(values))])
