"""File-level animation: read a source image and a driving video, animate, write the result.

This is what ``animcli animate`` runs; it is a library function so scripts can call it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from animcli.animate import AnimatedBatch, Animator
from animcli.choices import Normalization
from animcli.media import VideoReader, open_video, open_writer, read_image, resize_square
from animcli.models.base import Motion
from animcli.visualize import draw_keypoints, side_by_side


@dataclass(frozen=True)
class OutputStyle:
    side_by_side: bool = False  # source | driving | result
    show_keypoints: bool = False


@dataclass(frozen=True)
class AnimationResult:
    frames: int
    fps: float
    best_frame: int | None
    best_frame_by: str | None = None  # "face landmarks" or "model keypoints"


class Reiterable:
    """Frames that can be iterated more than once (best-frame search reads the driving video twice)."""

    def __init__(self, make_iterator: Callable[[], Iterator[np.ndarray]]) -> None:
        self.make_iterator = make_iterator

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.make_iterator()


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
        if style.show_keypoints and batch.kp_driving is not None:
            driving = draw_keypoints(driving, batch.kp_driving[i])
            prediction = draw_keypoints(prediction, batch.kp_transferred[i])
        if finish is not None:
            prediction = finish(prediction)
        frames.append(side_by_side(source, driving, prediction) if style.side_by_side else prediction)
    return frames


class NoFaceFound(Exception):
    """Best-frame search by face landmarks is not possible (the model's keypoints are used instead)."""


def best_frame_by_landmarks(source: np.ndarray, frames: Iterable[np.ndarray], size: int) -> tuple[int, np.ndarray]:
    """The official demo's choice: the driving frame whose 68 face landmarks, centred and divided by the square
    root of their hull area, are closest (sum of squares) to the source's. Frames without a face are skipped.
    Returns the index and the frame; raises NoFaceFound when the source or every frame lacks a face."""
    from animcli import faces
    from animcli.models.keypoint_transfer import pose_distance

    source_landmarks = faces.face_landmarks(resize_square(source, size))
    if source_landmarks is None:
        raise NoFaceFound("no face in the source image")
    best: tuple[float, int, np.ndarray] | None = None
    for index, frame in enumerate(frames):
        small = resize_square(frame, size)
        landmarks = faces.face_landmarks(small)
        if landmarks is None:
            continue
        distance = float(pose_distance(torch.from_numpy(source_landmarks)[None], torch.from_numpy(landmarks)[None]))
        if best is None or distance < best[0]:
            best = (distance, index, small)
    if best is None:
        raise NoFaceFound("no face in the driving video")
    return best[1], best[2]


def choose_initial_frame(animator: Animator, source: np.ndarray, frames: Iterable[np.ndarray]
                         ) -> tuple[int, Motion, str]:
    """The driving frame to measure relative motion from: by face landmarks when dlib's landmark model is
    installed and finds faces (as the official demo does), otherwise by the model's own keypoints/motion."""
    from animcli import faces

    if faces.missing_reason(faces.LANDMARKS_FILE) is None:
        try:
            index, frame = best_frame_by_landmarks(source, frames, animator.size)
            return index, animator.driving_motion(frame), "face landmarks"
        except NoFaceFound:
            pass
    index, motion = animator.find_best_frame(source, frames)
    return index, motion, "model keypoints"


def _cropped_driving(driving: VideoReader, size: int) -> tuple[Iterable[np.ndarray], float]:
    """The longest face segment of the driving video, cropped, and where it starts in seconds."""
    from animcli.crop import CropOptions, find_segments, segment_frames

    segment = max(find_segments(driving, CropOptions(size=size)), key=lambda s: s.frame_count)
    return Reiterable(lambda: segment_frames(driving, segment, size)), segment.start / driving.fps


def animate_files(animator: Animator, source_path: str | Path, driving_spec: str | Path, output_spec: str | Path,
                  *, fps: float | None = None, audio: bool = True, find_best_frame: bool = False,
                  style: OutputStyle = OutputStyle(), crop: bool = False, paste_back: bool = False,
                  normalize: Normalization = "frame",
                  on_progress: Callable[[int, int | None], None] | None = None) -> AnimationResult:
    """Animate and write ``output_spec`` atomically; ``on_progress(done, total)`` after every batch.

    ``crop`` cuts the face out of the source and the driving video first (the models expect face-filling
    squares); ``paste_back`` blends each animated crop back into the full-resolution source.
    ``normalize="clip"`` reproduces the official LIA demo's frames (see ``stretch_clip_uint8``): results are
    held in memory until the clip is complete instead of being streamed; families that define no such
    normalisation refuse it.
    """
    animator.model.check_normalization(normalize)
    stretch_clip = normalize == "clip"
    source = read_image(source_path)
    finish = None
    if crop or paste_back:
        from animcli.crop import crop_source_image
        from animcli.crop import paste_back as blend

        full_source = source
        source, box = crop_source_image(full_source, size=animator.size)
        if paste_back:
            def finish(prediction: np.ndarray) -> np.ndarray:
                return blend(full_source, prediction, box)
    with open_video(driving_spec) as driving:
        frames, audio_start, total = driving, 0.0, driving.frame_count
        if crop:
            frames, audio_start = _cropped_driving(driving, animator.size)
            total = None
        best_frame, initial, best_frame_by = None, None, None
        if find_best_frame:
            best_frame, initial, best_frame_by = choose_initial_frame(animator, source, frames)
        output_fps = fps or driving.fps
        audio_from = driving.path if audio and driving.has_audio else None
        source_column = resize_square(source, animator.size)
        done = 0
        held: list[AnimatedBatch] = []
        with open_writer(output_spec, output_fps, audio_from=audio_from, audio_start=audio_start) as writer:
            for batch in animator.animate(source, frames, initial=initial):
                if stretch_clip:
                    held.append(batch)
                else:
                    writer.write_many(compose_frames(batch, batch.prediction_uint8, source_column, style, finish))
                done += len(batch.driving)
                if on_progress is not None:
                    on_progress(done, total)
            if held:
                stretched = stretch_clip_uint8(np.concatenate([batch.prediction for batch in held]))
                for batch, predictions in zip(held, np.split(stretched, np.cumsum([len(b.driving) for b in held])[:-1]),
                                              strict=True):
                    writer.write_many(compose_frames(batch, predictions, source_column, style, finish))
    return AnimationResult(frames=done, fps=output_fps, best_frame=best_frame, best_frame_by=best_frame_by)
