"""Real-looking inputs built from the shared samples (tests and benchmarks/whole_photos.py): a group photo of
several portraits in one scene, and short clips of a real talking head."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np

from animcli.media import open_video, open_writer, read_image

SAMPLES = Path("samples") / "lia-demo"
#: the portraits of the group photo, their widths and top-left corners in a 720x400 scene (left to right).
GROUP = (("vox/macron.png", 210, (20, 120)), ("vox/taylor.png", 180, (250, 150)), ("vox/monroe.png", 230, (450, 90)))
GROUP_SIZE = (720, 400)


def group_photo(shared: Path, people: tuple = GROUP, size: tuple[int, int] = GROUP_SIZE, seed: int = 0
                ) -> np.ndarray:
    """Portraits from the samples blended (round, soft-edged) into one scene: a lit wall with grain, so that the
    picture has a texture of its own everywhere (the seam measure compares with it)."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    scene = np.stack([90 + 60 * xs / width, 110 + 40 * ys / height, 140 - 30 * xs / width], axis=-1)
    grain = np.random.default_rng(seed).normal(0, 12, (height, width, 3)).astype(np.float32)
    scene += cv2.GaussianBlur(grain, (0, 0), 3)
    for name, side, (x, y) in people:
        face = cv2.resize(read_image(shared / SAMPLES / name), (side, side), interpolation=cv2.INTER_AREA)
        radius = np.hypot(*np.mgrid[-1:1:side * 1j, -1:1:side * 1j])
        alpha = np.clip((1.0 - radius) / 0.25, 0, 1)[..., None]
        scene[y:y + side, x:x + side] = scene[y:y + side, x:x + side] * (1 - alpha) + face * alpha
    return np.clip(np.rint(scene), 0, 255).astype(np.uint8)


def clip_of(video: Path, output: Path, frames: int, fps: float | None = None, start: int = 0,
            audio: bool = False) -> Path:
    """``frames`` frames of ``video`` from frame ``start`` (re-encoded at ``fps``, default its own)."""
    with open_video(video) as reader:
        audio_from = reader.path if audio else None
        with open_writer(output, fps or reader.fps, audio_from=audio_from,
                         audio_start=start / reader.fps) as writer:
            writer.write_many(itertools.islice(reader, start, start + frames))
    return output


def still_clip(frame: np.ndarray, output: Path, frames: int, fps: float = 25.0) -> Path:
    """A clip of one frame repeated (a still driving or source video), lossless (a frame folder) or encoded."""
    with open_writer(output, fps) as writer:
        writer.write_many([frame] * frames)
    return output
