"""File-level animation: read a source image and a driving video, animate, write the result.

This is what ``animcli animate`` runs; it is a library function so scripts can call it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animcli.animate import AnimatedBatch, Animator
from animcli.video import open_video, open_writer, read_image, resize_square
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


def compose_frames(batch: AnimatedBatch, source: np.ndarray, style: OutputStyle) -> list[np.ndarray]:
    """The frames to write for one batch, following ``style``."""
    frames = []
    for i, prediction in enumerate(batch.prediction_uint8):
        driving = batch.driving[i]
        if style.show_keypoints and batch.kp_driving is not None:
            driving = draw_keypoints(driving, batch.kp_driving[i])
            prediction = draw_keypoints(prediction, batch.kp_transferred[i])
        frames.append(side_by_side(source, driving, prediction) if style.side_by_side else prediction)
    return frames


def animate_files(animator: Animator, source_path: str | Path, driving_spec: str | Path, output_spec: str | Path,
                  *, fps: float | None = None, audio: bool = True, find_best_frame: bool = False,
                  style: OutputStyle = OutputStyle(),
                  on_progress: Callable[[int, int | None], None] | None = None) -> AnimationResult:
    """Animate and write ``output_spec`` atomically; ``on_progress(done, total)`` after every batch."""
    source = read_image(source_path)
    with open_video(driving_spec) as driving:
        best_frame, initial = None, None
        if find_best_frame:
            best_frame, initial = animator.find_best_frame(source, driving)
        output_fps = fps or driving.fps
        audio_from = driving.path if audio and driving.has_audio else None
        source_small = resize_square(source, animator.size)
        done = 0
        with open_writer(output_spec, output_fps, audio_from=audio_from) as writer:
            for batch in animator.animate(source, driving, initial=initial):
                writer.write_many(compose_frames(batch, source_small, style))
                done += len(batch.driving)
                if on_progress is not None:
                    on_progress(done, driving.frame_count)
    return AnimationResult(frames=done, fps=output_fps, best_frame=best_frame)
