"""Procedural training data with texture everywhere: a scene that moves and deforms smoothly.

LIA encodes the whole frame into one motion code; on the shapes data (one object on black) that code barely
changes between frames, so a small run learns the average black frame first. Here every pixel carries texture
— a procedural scene (smooth colour noise over a few soft blobs), or an image the user passes — and every
frame is that scene under a slowly changing similarity transform plus a smooth random deformation field, so
that the whole frame moves and the motion is readable from any part of it.

Each clip is a pure function of its seed (and the images given), like the shapes clips.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

#: the scene is rendered this much larger than the frame so that moves never reveal an edge
MARGIN = 1.6
#: the deformation field's grid (control points per side) and its largest displacement (fraction of the frame)
DEFORM_GRID = 4
DEFORM_AMPLITUDE = 0.06


def procedural_scene(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float32 in [0, 1]: colour noise at three scales plus a few soft-edged blobs."""
    scene = np.zeros((size, size, 3), np.float32)
    for cells, weight in ((4, 0.5), (12, 0.3), (32, 0.2)):
        noise = rng.uniform(0, 1, (cells, cells, 3)).astype(np.float32)
        scene += weight * cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(3, 7))):
        mask = np.zeros((size, size), np.float32)
        centre = tuple(int(v) for v in rng.uniform(0.1, 0.9, 2) * size)
        axes = tuple(int(v) for v in rng.uniform(0.05, 0.18, 2) * size)
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), size / 100)[..., None]
        scene = scene * (1 - mask) + rng.uniform(0, 1, 3).astype(np.float32) * mask
    return np.clip(scene, 0, 1)


def image_scene(image: np.ndarray, size: int) -> np.ndarray:
    """A user's uint8 (H, W, 3) image as a (size, size, 3) float32 scene: centre square, resized."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[top:top + side, left:left + side]
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _similarity(t: float, params: np.ndarray, scene: int, size: int) -> np.ndarray:
    """2×3 map from frame pixels to scene pixels at time t: a drift, a turn and a zoom, all smooth in t."""
    shift, turn, zoom, phase = params[0:2], params[2], params[3], params[4]
    angle = turn * np.sin(2 * np.pi * t + phase)
    scale = (1 + zoom * np.sin(np.pi * t + phase)) * scene / (MARGIN * size)
    centre = scene / 2 + shift * scene * np.sin(np.pi * t)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale
    offset = centre - rotation @ np.array([size / 2, size / 2])
    return np.concatenate([rotation, offset[:, None]], axis=1)


def _deformation(t: float, knots: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 2) smooth displacement in pixels: control-point offsets that rotate in phase over time."""
    start, end = knots
    control = (start * np.cos(np.pi * t / 2) + end * np.sin(np.pi * t / 2)).astype(np.float32)
    return cv2.resize(control, (size, size), interpolation=cv2.INTER_CUBIC) * DEFORM_AMPLITUDE * size


def textured_clip(seed: int, size: int = 64, num_frames: int = 32,
                  images: Sequence[np.ndarray] = ()) -> np.ndarray:
    """One clip (T, H, W, 3) uint8; its scene is procedural, or one of ``images`` chosen by the seed."""
    if size < 8 or num_frames < 1:
        raise ValueError(f"synthetic clips need size >= 8 and at least one frame (got {size}, {num_frames})")
    rng = np.random.default_rng(seed)
    scene_size = int(np.ceil(MARGIN * size * 1.3))
    if images:
        scene = image_scene(images[int(rng.integers(len(images)))], scene_size)
    else:
        scene = procedural_scene(rng, scene_size)
    motion = np.concatenate([rng.uniform(-0.08, 0.08, 2), rng.uniform(0, 0.35, 1), rng.uniform(0, 0.15, 1),
                             rng.uniform(0, 2 * np.pi, 1)])
    knots = rng.uniform(-1, 1, (2, DEFORM_GRID, DEFORM_GRID, 2))
    pixels = np.stack(np.meshgrid(np.arange(size), np.arange(size)), axis=-1).astype(np.float32)
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for index in range(num_frames):
        t = index / max(num_frames - 1, 1)
        warped = pixels + _deformation(t, knots, size)
        affine = _similarity(t, motion, scene_size, size)
        source_xy = warped @ affine[:, :2].T.astype(np.float32) + affine[:, 2].astype(np.float32)
        frame = cv2.remap(scene, source_xy[..., 0], source_xy[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
        frames[index] = np.clip(np.rint(frame * 255), 0, 255).astype(np.uint8)
    return frames
