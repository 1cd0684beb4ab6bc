"""File-level animation: read a source image and a driving video, animate, write the result.

This is what ``animcli animate`` runs; it is a library function so scripts can call it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from animcli.common.choices import Normalization
from animcli.common.errors import AnimcliError
from animcli.inference.animator import AnimatedBatch, Animator
from animcli.inference.overlap import Background
from animcli.media import VideoReader, open_video, open_writer, read_image, resize_square
from animcli.media.images import check_pixels
from animcli.media.trim import Trim, TrimmedVideo
from animcli.media.visualize import draw_keypoints, side_by_side
from animcli.models.base import Motion

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
    fps: float
    best_frame: int | None
    best_frame_by: str | None = None  # "face landmarks", "model keypoints" or "--best-frame"
    frame_size: tuple[int, int] | None = None  # (width, height) of the written frames
    audio_dropped: str | None = None  # why the driving video's audio is not in the output
    precision_hint: str | None = None  # how much faster --precision bf16 would be here (a fp32 run on a bf16 CPU)


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


class NoFaceFound(Exception):
    """Best-frame search by face landmarks is not possible (the model's keypoints are used instead)."""


def best_frame_by_landmarks(source: np.ndarray, frames: Iterable[np.ndarray], size: int) -> tuple[int, np.ndarray]:
    """The official demo's choice: the driving frame whose 68 face landmarks, centred and divided by the square
    root of their hull area, are closest (sum of squares) to the source's. Frames without a face are skipped.
    Returns the index and the frame; raises NoFaceFound when the source or every frame lacks a face."""
    from animcli.crop import faces
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
    from animcli.crop import faces

    if faces.missing_reason(faces.LANDMARKS_FILE) is None:
        try:
            index, frame = best_frame_by_landmarks(source, frames, animator.size)
            return index, animator.driving_motion(frame), "face landmarks"
        except NoFaceFound:
            pass
    index, motion = animator.find_best_frame(source, frames)
    return index, motion, "model keypoints"


def _cropped_driving(driving: VideoReader, size: int, track: bool) -> tuple[Iterable[np.ndarray], float, int]:
    """The longest face segment of the driving video, cropped (``track``: following the face), where it starts
    in seconds, and its length."""
    from animcli.crop import CropOptions, find_segments, segment_frames

    segment = max(find_segments(driving, CropOptions(size=size, track=track)), key=lambda s: s.frame_count)
    frames = Reiterable(lambda: segment_frames(driving, segment, size))
    return frames, segment.start / driving.fps, segment.frame_count


def _chosen_frame(frames: Iterable[np.ndarray], index: int) -> np.ndarray:
    """Frame ``index`` of the driving frames (``--best-frame``)."""
    count = 0
    for count, frame in enumerate(frames, start=1):
        if count == index + 1:
            return frame
    raise AnimcliError(f"--best-frame {index} is past the driving video's last frame ({count - 1})")


def animate_files(animator: Animator, source_path: str | Path | np.ndarray, driving_spec: str | Path,
                  output_spec: str | Path,
                  *, fps: float | None = None, audio: bool = True, find_best_frame: bool = False,
                  best_frame: int | None = None, trim: Trim | None = None,
                  style: OutputStyle = OutputStyle(), crop: bool = False, track: bool = False,
                  paste_back: bool = False,
                  normalize: Normalization = "frame", overwrite: bool = False,
                  on_progress: Callable[[int, int | None], None] | None = None) -> AnimationResult:
    """Animate and write ``output_spec`` atomically; ``on_progress(done, total)`` after every batch.

    ``trim`` selects part of the driving video (before anything else: ``--crop`` and ``best_frame`` then count
    within it). ``best_frame`` measures relative motion from that driving frame (the official demo's
    ``--best_frame``); ``find_best_frame`` searches for it.
    ``source_path`` is an image file or an image already read (H, W, 3) uint8.
    ``crop`` cuts the face out of the source and the driving video first (the models expect face-filling
    squares; ``track``: a driving crop that follows the face, see ``crop.track``); ``paste_back`` blends each
    animated crop back into the full-resolution source.
    ``normalize="clip"`` reproduces the official LIA demo's frames (see ``stretch_clip_uint8``): results are
    held in memory until the clip is complete instead of being streamed; families that define no such
    normalisation refuse it. ``overwrite`` allows replacing a non-empty frame folder (as a whole).
    """
    animator.model.check_normalization(normalize)
    if track and not crop:
        raise AnimcliError("--track follows the face of a cropped driving video: add --crop")
    stretch_clip = normalize == "clip"
    if find_best_frame and best_frame is not None:
        raise AnimcliError("give either --find-best-frame or --best-frame N, not both")
    if paste_back and style.output_size is not None:
        raise AnimcliError("--paste-back already writes the source's own size; drop --output-size")
    if style.output_size is not None:  # refused before anything is read, like an image over the pixel limit
        panels = 3 if style.side_by_side else 1
        check_pixels(style.output_size * panels, style.output_size, f"--output-size {style.output_size}")
    source = source_path if isinstance(source_path, np.ndarray) else read_image(source_path)
    finish = None
    if crop or paste_back:
        from animcli.crop import crop_source_image
        from animcli.crop import paste_back as blend

        full_source = source
        source, box = crop_source_image(full_source, size=animator.size)
        if paste_back:
            def finish(prediction: np.ndarray) -> np.ndarray:
                return blend(full_source, prediction, box)
    with open_video(driving_spec) as full_driving:
        driving, audio_start = full_driving, 0.0
        if trim is not None:
            trimmed = TrimmedVideo(full_driving, trim)
            driving, audio_start = trimmed, trimmed.start_seconds
        frames, total = driving, driving.frame_count
        if crop:
            frames, segment_start, total = _cropped_driving(driving, animator.size, track)
            audio_start += segment_start
        initial, best_frame_by = None, None
        if find_best_frame:
            best_frame, initial, best_frame_by = choose_initial_frame(animator, source, frames)
        elif best_frame is not None:
            initial, best_frame_by = animator.driving_motion(_chosen_frame(frames, best_frame)), "--best-frame"
        if best_frame is not None and animator.smoothing is not None:
            initial = animator.smoothed_motion_at(frames, best_frame, driving.fps)
        output_fps = fps or driving.fps
        audio_from = driving.path if audio and driving.has_audio else None
        source_column = resize_square(source, style.output_size or animator.size)
        if style.side_by_side and style.show_keypoints:
            kp_source = animator.source_keypoints(source)
            source_column = source_column if kp_source is None else draw_keypoints(source_column, kp_source)
        done = 0
        held: list[AnimatedBatch] = []
        with open_writer(output_spec, output_fps, audio_from=audio_from, audio_start=audio_start,
                         overwrite=overwrite) as writer:
            def write(item: tuple[AnimatedBatch, np.ndarray]) -> None:
                writer.write_many(compose_frames(*item, source_column, style, finish))

            # Composing and encoding run in a background thread while the model animates the next batch.
            with Background(write, depth=WRITE_QUEUE_BATCHES) as background:
                for batch in animator.animate(source, frames, initial=initial, fps=driving.fps):
                    if stretch_clip:
                        held.append(batch)
                    else:
                        background.submit((batch, batch.prediction_uint8))
                    done += len(batch.driving)
                    if on_progress is not None:
                        on_progress(done, total)
                if held:
                    stretched = stretch_clip_uint8(np.concatenate([batch.prediction for batch in held]))
                    ends = np.cumsum([len(batch.driving) for batch in held])[:-1]
                    for batch, predictions in zip(held, np.split(stretched, ends), strict=True):
                        background.submit((batch, predictions))
    audio_dropped = "the output type holds no audio" if audio_from is not None and not writer.carries_audio else None
    return AnimationResult(frames=done, fps=output_fps, best_frame=best_frame, best_frame_by=best_frame_by,
                           frame_size=writer.frame_size, audio_dropped=audio_dropped)
