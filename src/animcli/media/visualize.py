"""Drawing helpers for animate's --show-keypoints / --side-by-side and training sample grids."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np


def keypoint_colors(num_kp: int) -> list[tuple[int, int, int]]:
    """Evenly spaced hues (the official visualiser's gist_rainbow idea), RGB uint8."""
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / max(num_kp, 1), 1.0, 1.0)) for i in range(num_kp)]


def draw_keypoints(frame: np.ndarray, kp: np.ndarray, radius: int | None = None) -> np.ndarray:
    """A copy of ``frame`` (H, W, 3) uint8 with (K, 2) keypoints in [-1, 1] (x, y) drawn as dots."""
    out = np.ascontiguousarray(frame).copy()
    height, width = out.shape[:2]
    radius = radius or max(1, round(min(height, width) / 64))
    for (x, y), color in zip(kp, keypoint_colors(len(kp)), strict=True):
        center = (round((x + 1) / 2 * (width - 1)), round((y + 1) / 2 * (height - 1)))
        cv2.circle(out, center, radius, color, thickness=-1, lineType=cv2.LINE_AA)
    return out


def side_by_side(*columns: np.ndarray) -> np.ndarray:
    """(H, W, 3) frames left to right, each scaled to the height of the tallest."""
    height = max(column.shape[0] for column in columns)
    scaled = [column if column.shape[0] == height else
              cv2.resize(column, (round(column.shape[1] * height / column.shape[0]), height),
                         interpolation=cv2.INTER_LINEAR)
              for column in columns]
    return np.concatenate(scaled, axis=1)
