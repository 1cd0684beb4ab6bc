"""Sample grids: one row per sample — source, driving, prediction — with keypoints drawn when there are any."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from torch import Tensor

from animcli.media import write_image
from animcli.train.trainer import Preview

BORDER = 2


def keypoint_colours(count: int) -> list[tuple[int, int, int]]:
    """Evenly spaced hues (like the official gist_rainbow colormap), RGB uint8."""
    hues = np.linspace(0, 150, count, endpoint=False, dtype=np.float32)  # OpenCV hue range is 0..180
    hsv = np.stack([hues, np.full(count, 255, np.float32), np.full(count, 255, np.float32)], axis=1)
    rgb = cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0]
    return [tuple(int(c) for c in colour) for colour in rgb]


def to_images(batch: Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] → (B, H, W, 3) uint8."""
    array = batch.detach().float().clamp(0, 1).cpu().numpy().transpose(0, 2, 3, 1)
    return np.ascontiguousarray(np.rint(array * 255).astype(np.uint8))


def draw_keypoints(image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Keypoints (K, 2) (x, y) in [-1, 1] as filled dots."""
    height, width = image.shape[:2]
    radius = max(1, round(min(height, width) / 64))
    for (x, y), colour in zip(keypoints, keypoint_colours(len(keypoints)), strict=True):
        centre = (int(round((x + 1) / 2 * (width - 1))), int(round((y + 1) / 2 * (height - 1))))
        cv2.circle(image, centre, radius, colour, -1, lineType=cv2.LINE_AA)
    return image


def render_grid(preview: Preview) -> np.ndarray:
    sources, drivings, predictions = (to_images(t) for t in (preview.source, preview.driving, preview.prediction))
    for images, keypoints in ((sources, preview.kp_source), (drivings, preview.kp_driving)):
        if keypoints is not None:
            for image, points in zip(images, keypoints.detach().float().cpu().numpy(), strict=True):
                draw_keypoints(image, points)
    rows = [np.concatenate(row, axis=1) for row in zip(sources, drivings, predictions, strict=True)]
    grid = np.concatenate(rows, axis=0)
    return cv2.copyMakeBorder(grid, BORDER, BORDER, BORDER, BORDER, cv2.BORDER_CONSTANT, value=(255, 255, 255))


def write_sample_grid(path: Path, preview: Preview) -> Path:
    return write_image(path, render_grid(preview))
