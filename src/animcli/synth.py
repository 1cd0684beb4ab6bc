"""Procedural training data: textured shapes that move, rotate and deform over a textured background.

Every clip is a pure function of its seed, so datasets, tests and the demo are reproducible anywhere. Shapes
are rendered at twice the output size and area-downsampled, which keeps their edges anti-aliased; each shape
carries its own texture (stripes or checks) that moves rigidly with it, so a model has to learn real
motion rather than colour blobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from animcli.media import write_image

SUPERSAMPLE = 2
SHAPE_KINDS = ("ellipse", "rectangle", "triangle", "star")


@dataclass(frozen=True)
class ShapeTrack:
    """One shape's appearance and its motion law over normalised time t ∈ [0, 1]."""

    kind: str
    texture: np.ndarray  # (S, S, 3) float32 in the shape's own frame
    radius: float  # fraction of the image size
    start: np.ndarray  # (2,) centre at t = 0, fraction of the image size
    velocity: np.ndarray  # (2,) displacement over the clip
    wobble: np.ndarray  # (2,) amplitude of a sinusoidal path on top of the drift
    wobble_freq: float
    angle0: float
    spin: float  # radians over the clip
    stretch: float  # amplitude of the anisotropic scale oscillation (the "deformation")
    stretch_freq: float


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int) -> np.ndarray:
    coarse = rng.random((cells, cells, channels)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC).reshape(size, size, channels)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.uniform(0.15, 0.55, size=3).astype(np.float32)
    # Low-frequency texture: enough to make motion estimation non-trivial, smooth enough for small models.
    noise = _smooth_noise(rng, size, int(rng.integers(2, 5)), 3) - 0.5
    return np.clip(base + 0.3 * noise, 0, 1)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Two saturated colours arranged as stripes or a checkerboard, in the shape's local frame."""
    colour_a, colour_b = rng.uniform(0.0, 1.0, size=(2, 3)).astype(np.float32)
    colour_a[rng.integers(3)] = 1.0  # keep shapes bright enough to stand out from the background
    period = size / rng.uniform(2.5, 6.0)
    coords = np.arange(size, dtype=np.float32)
    xs, ys = np.meshgrid(coords, coords)
    stripes_x = np.floor(xs / period) % 2
    pattern = stripes_x if rng.random() < 0.5 else (stripes_x + np.floor(ys / period)) % 2
    return np.where(pattern[..., None] > 0, colour_a, colour_b).astype(np.float32)


def _local_mask(kind: str, size: int) -> np.ndarray:
    """The shape's silhouette in its (size × size) local frame, filling most of it."""
    mask = np.zeros((size, size), np.float32)
    c, r = size / 2, size * 0.45
    if kind == "ellipse":
        cv2.ellipse(mask, (int(c), int(c)), (int(r), int(r * 0.7)), 0, 0, 360, 1.0, -1)
        return mask
    if kind == "rectangle":
        angles = np.deg2rad([45, 135, 225, 315])
        radii = np.full(4, r)
    elif kind == "triangle":
        angles = np.deg2rad([-90, 30, 150])
        radii = np.full(3, r)
    else:  # star
        angles = np.deg2rad(np.arange(10) * 36 - 90)
        radii = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
    points = np.stack([c + radii * np.cos(angles), c + radii * np.sin(angles)], axis=1)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1.0)
    return mask


def _random_track(rng: np.random.Generator, texture_size: int) -> ShapeTrack:
    return ShapeTrack(
        kind=SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))],
        texture=_texture(rng, texture_size),
        radius=float(rng.uniform(0.14, 0.24)),
        start=rng.uniform(0.3, 0.7, size=2),
        velocity=rng.uniform(-0.3, 0.3, size=2),
        wobble=rng.uniform(0.0, 0.12, size=2),
        wobble_freq=float(rng.uniform(0.5, 2.0)),
        angle0=float(rng.uniform(0, 2 * np.pi)),
        spin=float(rng.uniform(-np.pi, np.pi)),
        stretch=float(rng.uniform(0.0, 0.3)),
        stretch_freq=float(rng.uniform(0.5, 2.0)),
    )


def _placement(track: ShapeTrack, t: float, canvas: int, local: int) -> np.ndarray:
    """2×3 affine map from the shape's local frame to canvas pixels at time t."""
    centre = track.start + track.velocity * t + track.wobble * np.sin(2 * np.pi * track.wobble_freq * t)
    centre = np.clip(centre, 0.1, 0.9) * canvas
    angle = track.angle0 + track.spin * t
    squash = track.stretch * np.sin(2 * np.pi * track.stretch_freq * t)
    scale = 2 * track.radius * canvas / local * np.array([1 + squash, 1 - squash])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = rotation @ np.diag(scale)
    offset = centre - linear @ np.array([local / 2, local / 2])
    return np.concatenate([linear, offset[:, None]], axis=1)


def synth_clip(seed: int, size: int = 64, num_frames: int = 32, num_shapes: int | None = None) -> np.ndarray:
    """One synthetic video (T, H, W, 3) uint8: 1–3 textured shapes moving over a textured background."""
    if size < 8 or num_frames < 1:
        raise ValueError(f"synthetic clips need size >= 8 and at least one frame (got {size}, {num_frames})")
    rng = np.random.default_rng(seed)
    canvas = size * SUPERSAMPLE
    local = canvas
    background = _background(rng, canvas)
    count = num_shapes if num_shapes is not None else int(rng.integers(1, 4))
    tracks = [_random_track(rng, local) for _ in range(count)]
    masks = {track.kind: _local_mask(track.kind, local) for track in tracks}
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for index in range(num_frames):
        t = index / max(num_frames - 1, 1)
        image = background.copy()
        for track in tracks:
            placement = _placement(track, t, canvas, local)
            warp = {"dsize": (canvas, canvas), "flags": cv2.INTER_LINEAR, "borderValue": 0}
            alpha = cv2.warpAffine(masks[track.kind], placement, **warp)[..., None]
            colour = cv2.warpAffine(track.texture, placement, **warp)
            image = image * (1 - alpha) + colour * alpha
        small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        frames[index] = np.clip(np.rint(small * 255), 0, 255).astype(np.uint8)
    return frames


def synth_source_and_driving(seed: int, size: int = 64, num_frames: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A source image (H, W, 3) and a driving clip (T, H, W, 3), both uint8, showing different shapes.

    The source is frame 0 of one clip and the driving video another clip, as in cross-identity animation.
    """
    source = synth_clip(2 * seed, size, 1)[0]
    driving = synth_clip(2 * seed + 1, size, num_frames)
    return source, driving


def write_synth_dataset(out: Path, num_videos: int, size: int = 64, num_frames: int = 32, seed: int = 0,
                        test_fraction: float = 0.1) -> tuple[int, int]:
    """Write ``out/train`` and ``out/test`` videos as PNG strips (frames side by side, the Monkey-Net dataset
    format); returns (train count, test count).

    Video i uses seed ``seed * 1_000_003 + i`` so datasets with different seeds never share clips; the last
    ``round(num_videos * test_fraction)`` videos (at least one when there are two or more) form the test split.
    """
    num_test = max(1, round(num_videos * test_fraction)) if num_videos > 1 else 0
    for split in ("train", "test"):
        (out / split).mkdir(parents=True, exist_ok=True)
    for index in range(num_videos):
        split = "test" if index >= num_videos - num_test else "train"
        clip = synth_clip(seed * 1_000_003 + index, size, num_frames)
        write_image(out / split / f"{index:06d}.png", np.concatenate(list(clip), axis=1))
    return num_videos - num_test, num_test
