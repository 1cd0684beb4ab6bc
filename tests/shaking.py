"""A synthetic camera shake for the smoothing tests."""

from __future__ import annotations

import cv2
import numpy as np


def shake(frames: np.ndarray, seed: int, max_px: float = 2.0) -> np.ndarray:
    """Every frame moved by a random 0–max_px pixels in a random direction (camera shake / detection noise)."""
    rng = np.random.default_rng(seed)
    shaken = []
    for frame in frames:
        radius, angle = rng.uniform(0, max_px), rng.uniform(0, 2 * np.pi)
        shift = np.float32([[1, 0, radius * np.cos(angle)], [0, 1, radius * np.sin(angle)]])
        shaken.append(cv2.warpAffine(frame, shift, frame.shape[1::-1], flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))
    return np.stack(shaken)
