"""How an animation's results become the frames written, for every workflow (photo or video source, edit,
predict): the output style, the result reported, clip normalisation, composition and upscaling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from animcli.inference.animator import AnimatedBatch
from animcli.media.visualize import draw_keypoints, side_by_side

#: animated batches that may wait for the encoder thread (bounded: memory stays flat in video length).
WRITE_QUEUE_BATCHES = 4


@dataclass(frozen=True)
class OutputStyle:
    side_by_side: bool = False  # source | driving | result
    show_keypoints: bool = False
    output_size: int | None = None  # side of the result (each panel of a side-by-side); None: the model's


@dataclass(frozen=True)
class AnimationResult:
    frames: int
    fps: float | None  # None: a still was written (a driving photo)
    best_frame: int | None
    best_frame_by: str | None = None  # "face landmarks", "model keypoints", "--best-frame" or "--reference"
    frame_size: tuple[int, int] | None = None  # (width, height) of the written frames
    audio_dropped: str | None = None  # why the requested audio is not in the output
    faces: int = 1  # faces animated (``--faces``)
    best_frames: tuple[int, ...] | None = None  # --find-best-frame with several faces: each face's frame
    source_video: bool = False  # the source was a video (video to video)
    precision_hint: str | None = None  # how much faster --precision bf16 would be here (a fp32 run on a bf16 CPU)


def stretch_clip_uint8(predictions: np.ndarray) -> np.ndarray:
    """The official LIA demo's writer: the whole clip stretched to [0, 1] by its global min and max, ×255 and
    truncated. Every frame depends on all others, so the clip has to be complete before anything is written."""
    low, high = float(predictions.min()), float(predictions.max())
    return ((predictions - low) / max(high - low, 1e-12) * 255).astype(np.uint8)


def compose_frames(batch: AnimatedBatch, predictions: np.ndarray, source: np.ndarray, style: OutputStyle,
                   finish: Callable[[np.ndarray], np.ndarray] | None = None) -> list[np.ndarray]:
    """The frames to write for one batch (``predictions``: its uint8 results), following ``style``;
    ``finish`` post-processes each result."""
    frames = []
    for i, prediction in enumerate(predictions):
        driving = batch.driving[i]
        if style.output_size is not None:
            prediction = upscale_square(prediction, style.output_size)
        if style.show_keypoints and batch.kp_driving is not None:
            driving = draw_keypoints(driving, batch.kp_driving[i])
            prediction = draw_keypoints(prediction, batch.kp_transferred[i])
        if finish is not None:
            prediction = finish(prediction)
        frames.append(side_by_side(source, driving, prediction) if style.side_by_side else prediction)
    return frames


def upscale_square(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` at size×size: Lanczos when growing (sharper than bilinear for the small models' 64–256 px
    results), the area filter when shrinking."""
    if image.shape[0] == size:
        return image
    interpolation = cv2.INTER_LANCZOS4 if size > image.shape[0] else cv2.INTER_AREA
    return cv2.resize(image, (size, size), interpolation=interpolation)
