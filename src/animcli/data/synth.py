"""Procedural training data: one two-colour shape that moves, rotates and deforms over a black background.

Every clip is a pure function of its seed, so datasets, tests and the demo are reproducible anywhere. Shapes
are rendered at twice the output size and area-downsampled, which keeps their edges anti-aliased; each shape
carries its own two-colour pattern that moves rigidly with it, so a model has to learn real motion (turns
included) rather than colour blobs.

One shape per clip, always wholly inside the frame, on black: with several overlapping
shapes leaving the frame over busy textures, the small CPU-trained demo model learned little more than
copying the source (7 % better); a single object lets its keypoints settle on the object and follow it, which
is what the demo has to show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from animcli.common.choices import SYNTH_KINDS, SynthKind
from animcli.data.textured import textured_clip
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


def _background(size: int) -> np.ndarray:
    """Black, as in Monkey-Net's shapes data: the bright shape stands out, and the generator spends nothing on
    the backdrop (a textured or coloured one cost a small CPU-trained model more error than the moving shape)."""
    return np.zeros((size, size, 3), np.float32)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Two saturated colours split by one line in the shape's local frame: the split shows the shape's
    rotation and deformation, while a small CPU-trained model can still render it sharply (finer stripes or
    checks came out as blur)."""
    channel_a, channel_b = rng.permutation(3)[:2]
    colour_a, colour_b = rng.uniform(0.0, 0.6, size=(2, 3)).astype(np.float32)
    # A different full channel each: both bright against the dark background, and unlike each other.
    colour_a[channel_a] = colour_b[channel_b] = 1.0
    split = size * rng.uniform(0.35, 0.65)
    half = np.arange(size, dtype=np.float32)[None, :] < split
    return np.where(np.broadcast_to(half, (size, size))[..., None], colour_a, colour_b).astype(np.float32)


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
        radius=float(rng.uniform(0.2, 0.28)),
        start=rng.uniform(0.35, 0.65, size=2),
        velocity=rng.uniform(-0.3, 0.3, size=2),
        wobble=rng.uniform(0.0, 0.1, size=2),
        wobble_freq=float(rng.uniform(0.5, 1.5)),
        angle0=float(rng.uniform(0, 2 * np.pi)),
        spin=float(rng.uniform(-np.pi / 2, np.pi / 2)),
        stretch=float(rng.uniform(0.0, 0.25)),
        stretch_freq=float(rng.uniform(0.5, 1.5)),
    )


def _placement(track: ShapeTrack, t: float, canvas: int, local: int) -> np.ndarray:
    """2×3 affine map from the shape's local frame to canvas pixels at time t."""
    centre = track.start + track.velocity * t + track.wobble * np.sin(2 * np.pi * track.wobble_freq * t)
    # The silhouette reaches 0.9 × radius × (1 + stretch) from the centre: keep all of it inside the frame.
    reach = 0.9 * track.radius * (1 + track.stretch)
    centre = np.clip(centre, reach, 1 - reach) * canvas
    angle = track.angle0 + track.spin * t
    squash = track.stretch * np.sin(2 * np.pi * track.stretch_freq * t)
    scale = 2 * track.radius * canvas / local * np.array([1 + squash, 1 - squash])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = rotation @ np.diag(scale)
    offset = centre - linear @ np.array([local / 2, local / 2])
    return np.concatenate([linear, offset[:, None]], axis=1)


def synth_clip(seed: int, size: int = 64, num_frames: int = 32) -> np.ndarray:
    """One synthetic video (T, H, W, 3) uint8: a two-colour shape moving over a black background."""
    if size < 8 or num_frames < 1:
        raise ValueError(f"synthetic clips need size >= 8 and at least one frame (got {size}, {num_frames})")
    rng = np.random.default_rng(seed)
    canvas = size * SUPERSAMPLE
    local = canvas
    background = _background(canvas)
    track = _random_track(rng, local)
    mask = _local_mask(track.kind, local)
    warp = {"dsize": (canvas, canvas), "flags": cv2.INTER_LINEAR, "borderValue": 0}
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for index in range(num_frames):
        t = index / max(num_frames - 1, 1)
        placement = _placement(track, t, canvas, local)
        alpha = cv2.warpAffine(mask, placement, **warp)[..., None]
        image = background * (1 - alpha) + cv2.warpAffine(track.texture, placement, **warp) * alpha
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
                        test_fraction: float = 0.1, kind: SynthKind = "shapes",
                        images: Sequence[np.ndarray] = ()) -> tuple[int, int]:
    """Write ``out/train`` and ``out/test`` videos as PNG strips (frames side by side, the Monkey-Net dataset
    format); returns (train count, test count).

    ``kind``: ``shapes`` (one shape on black, this module) or ``textured`` (a whole textured scene that moves
    and deforms, ``data.textured``; its scenes are ``images`` when given). Video i uses seed
    ``seed * 1_000_003 + i`` so datasets with different seeds never share clips; the last
    ``round(num_videos * test_fraction)`` videos (at least one when there are two or more) form the test split.
    """
    if kind not in SYNTH_KINDS:
        raise ValueError(f"unknown synthetic data kind {kind!r} (use {' or '.join(SYNTH_KINDS)})")
    num_test = max(1, round(num_videos * test_fraction)) if num_videos > 1 else 0
    for split in ("train", "test"):
        (out / split).mkdir(parents=True, exist_ok=True)
    for index in range(num_videos):
        split = "test" if index >= num_videos - num_test else "train"
        clip_seed = seed * 1_000_003 + index
        if kind == "textured":
            clip = textured_clip(clip_seed, size, num_frames, images)
        else:
            clip = synth_clip(clip_seed, size, num_frames)
        write_image(out / split / f"{index:06d}.png", np.concatenate(list(clip), axis=1))
    return num_videos - num_test, num_test
