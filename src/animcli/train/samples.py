"""Sample grids: one row per sample — source, driving, prediction — with keypoints drawn when there are any."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from torch import Tensor

from animcli.media import write_image
from animcli.media.visualize import draw_keypoints
from animcli.train.trainer import Preview

BORDER = 2


def to_images(batch: Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] → (B, H, W, 3) uint8."""
    array = batch.detach().float().clamp(0, 1).cpu().numpy().transpose(0, 2, 3, 1)
    return np.ascontiguousarray(np.rint(array * 255).astype(np.uint8))


def render_grid(preview: Preview) -> np.ndarray:
    sources, drivings, predictions = (to_images(t) for t in (preview.source, preview.driving, preview.prediction))
    for images, keypoints in ((sources, preview.kp_source), (drivings, preview.kp_driving)):
        if keypoints is not None:
            for index, points in enumerate(keypoints.detach().float().cpu().numpy()):
                images[index] = draw_keypoints(images[index], points)
    rows = [np.concatenate(row, axis=1) for row in zip(sources, drivings, predictions, strict=True)]
    grid = np.concatenate(rows, axis=0)
    return cv2.copyMakeBorder(grid, BORDER, BORDER, BORDER, BORDER, cv2.BORDER_CONSTANT, value=(255, 255, 255))


def write_sample_grid(path: Path, preview: Preview) -> Path:
    return write_image(path, render_grid(preview))
