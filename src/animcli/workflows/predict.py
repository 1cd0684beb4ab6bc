"""File-level image-to-video: read a still image, predict its motion, render and write the result.

This is what ``animcli predict`` runs. The model's motion predictor (Monkey-Net's keypoint GRU) continues the
source's own keypoints — or those of the first frames of an ``init`` clip — and the generator renders every
predicted frame from the source. Output writing is the ``animate`` pipeline's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from animcli.inference.animator import Animator
from animcli.media import DEFAULT_FRAME_DIR_FPS, open_video, open_writer, read_image, resize_square
from animcli.workflows.output import AnimationResult, OutputStyle, compose_frames


def predict_files(animator: Animator, source_path: str | Path, output_spec: str | Path, *,
                  num_frames: int | None = None, init: str | Path | None = None, fps: float | None = None,
                  style: OutputStyle = OutputStyle(),
                  on_progress: Callable[[int, int | None], None] | None = None) -> AnimationResult:
    """Generate a video from the image at ``source_path`` and write it atomically to ``output_spec``.

    ``num_frames`` defaults to the length the predictor was trained for; ``init`` (a video or a folder of
    frames) supplies the observed first frames' motion instead of the source's, and its frame rate is the
    default ``fps``. ``on_progress(done, total)`` is called after every batch.
    """
    total = num_frames or animator.model.prediction_settings().num_frames  # fails early without a predictor
    source = read_image(source_path)
    source_column = resize_square(source, animator.size)
    with contextlib.ExitStack() as stack:
        clip = stack.enter_context(open_video(init)) if init is not None else None
        output_fps = fps or (clip.fps if clip is not None else DEFAULT_FRAME_DIR_FPS)
        done = 0
        with open_writer(output_spec, output_fps) as writer:
            for batch in animator.predict(source, total, clip):
                writer.write_many(compose_frames(batch, batch.prediction_uint8, source_column, style))
                done += len(batch.prediction)
                if on_progress is not None:
                    on_progress(done, total)
    return AnimationResult(frames=done, fps=output_fps, best_frame=None, precision_hint=animator.precision_hint())
