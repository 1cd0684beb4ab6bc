"""The official training augmentations (flip, rotation, resize, crop, colour jitter) on numpy clips.

A clip is a float32 array (T, H, W, 3) in [0, 1]; every frame of a clip gets the same random parameters, so
source and driving stay consistent. All randomness comes from the ``np.random.Generator`` passed in, which
the dataset derives from the item's seed: augmentation is reproducible and independent of worker processes.

Deliberate differences from the official ``augmentation.py`` (see the FOMM spec §11.1):
* the random crop draws both offsets over the full range (the original pins an offset to 0 whenever the
  *other* dimension needs no padding);
* time flip and horizontal flip are independent coin tosses (the original skips the mirror whenever it
  reversed time, so mirrored clips were half as frequent as configured);
* resizing interpolates (area when shrinking, bilinear when growing) instead of nearest-neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from animcli.media import resize

Clip = np.ndarray
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _grayscale(clip: Clip) -> Clip:
    return (clip @ LUMA)[..., None]


def _adjust(clip: Clip, op: str, factor: float) -> Clip:
    """torchvision's adjust_* semantics on float images: blend towards a degenerate image, or rotate hue."""
    if op == "brightness":
        return np.clip(clip * factor, 0, 1)
    if op == "contrast":
        means = _grayscale(clip).mean(axis=(1, 2, 3), keepdims=True)
        return np.clip(factor * clip + (1 - factor) * means, 0, 1)
    if op == "saturation":
        return np.clip(factor * clip + (1 - factor) * _grayscale(clip), 0, 1)
    hsv = np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2HSV) for frame in clip])
    hsv[..., 0] = (hsv[..., 0] + factor * 360.0) % 360.0
    return np.clip(np.stack([cv2.cvtColor(frame, cv2.COLOR_HSV2RGB) for frame in hsv]), 0, 1)


def _resize_frames(clip: Clip, height: int, width: int) -> Clip:
    if clip.shape[1:3] == (height, width):
        return clip
    return np.stack([resize(frame, width, height) for frame in clip])


@dataclass(frozen=True)
class Augmentation:
    """The augmentations an official ``augmentation_params`` block configures, applied in the official order."""

    time_flip: bool = False
    horizontal_flip: bool = False
    rotation_degrees: float = 0.0
    resize_ratio: tuple[float, float] | None = None
    crop_size: tuple[int, int] | None = None
    jitter: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> Augmentation:
        params = params or {}
        flip = params.get("flip_param") or {}
        jitter = params.get("jitter_param") or {}
        crop = (params.get("crop_param") or {}).get("size")
        ratio = (params.get("resize_param") or {}).get("ratio")
        return cls(
            time_flip=bool(flip.get("time_flip", False)),
            horizontal_flip=bool(flip.get("horizontal_flip", False)),
            rotation_degrees=float((params.get("rotation_param") or {}).get("degrees", 0)),
            resize_ratio=(float(ratio[0]), float(ratio[1])) if ratio else None,
            crop_size=(int(crop[0]), int(crop[1])) if crop else None,
            jitter=tuple((op, float(jitter[op])) for op in JITTER_OPS if jitter.get(op)),
        )

    def __call__(self, clip: Clip, rng: np.random.Generator) -> Clip:
        clip = self._flip(clip, rng)
        if self.rotation_degrees:
            clip = self._rotate(clip, rng.uniform(-self.rotation_degrees, self.rotation_degrees))
        if self.resize_ratio is not None:
            factor = rng.uniform(*self.resize_ratio)
            clip = _resize_frames(clip, int(clip.shape[1] * factor), int(clip.shape[2] * factor))
        if self.crop_size is not None:
            clip = self._crop(clip, rng)
        if self.jitter:
            clip = self._color_jitter(clip, rng)
        return np.ascontiguousarray(clip, dtype=np.float32)

    def _flip(self, clip: Clip, rng: np.random.Generator) -> Clip:
        if self.time_flip and rng.random() < 0.5:
            clip = clip[::-1]
        if self.horizontal_flip and rng.random() < 0.5:
            clip = clip[:, :, ::-1]
        return np.ascontiguousarray(clip)  # OpenCV refuses negatively strided views

    @staticmethod
    def _rotate(clip: Clip, degrees: float) -> Clip:
        """Rotate about the image centre, counter-clockwise, filling the uncovered corners with black."""
        height, width = clip.shape[1:3]
        matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, 1.0)
        return np.stack([cv2.warpAffine(frame, matrix, (width, height),
                                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                         for frame in clip])

    def _crop(self, clip: Clip, rng: np.random.Generator) -> Clip:
        """Edge-pad up to the crop size when needed, then cut a uniformly placed window."""
        crop_h, crop_w = self.crop_size
        pad_h, pad_w = max(0, crop_h - clip.shape[1]), max(0, crop_w - clip.shape[2])
        if pad_h or pad_w:
            clip = np.pad(clip, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
                          mode="edge")
        top = int(rng.integers(clip.shape[1] - crop_h + 1))
        left = int(rng.integers(clip.shape[2] - crop_w + 1))
        return np.ascontiguousarray(clip[:, top:top + crop_h, left:left + crop_w])

    def _color_jitter(self, clip: Clip, rng: np.random.Generator) -> Clip:
        """One set of factors per clip, applied in a random order (torchvision ColorJitter)."""
        factors = [
            (op, rng.uniform(-amount, amount) if op == "hue" else rng.uniform(max(0.0, 1 - amount), 1 + amount))
            for op, amount in self.jitter
        ]
        for position in rng.permutation(len(factors)):
            op, factor = factors[position]
            clip = _adjust(clip, op, factor)
        return clip


def fit_frames(clip: Clip, frame_shape: tuple[int, int]) -> Clip:
    """Resize every frame to (H, W) when the video (or the augmented crop) has another size."""
    return _resize_frames(clip, *frame_shape)
