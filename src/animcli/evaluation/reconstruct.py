"""The papers' evaluation protocol: rebuild every test video from its first frame and the raw motion of
each frame (``model.reconstruction_options()``, absolute transfer), scoring frames as they are produced.

Reconstruction runs through the same streaming :class:`~animcli.inference.animator.Animator` as ``animate``, so memory
does not grow with a video's length: metrics accumulate per frame batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from animcli.evaluation.metrics import Metric
from animcli.evaluation.report import VideoRecord
from animcli.evaluation.videos import open_frames
from animcli.inference.animator import Animator
from animcli.inference.smoothing import Smoothing
from animcli.media import DEFAULT_FRAME_DIR_FPS, FrameDirWriter
from animcli.models.base import AnimationModel


def reconstruct_videos(model: AnimationModel, videos: dict[str, Path], metrics: list[Metric], *,
                       batch_size: int | str | None = None, precision: str = "auto", backend: str = "torch",
                       threads: int | None = None, frames_dir: Path | None = None,
                       smoothing: Smoothing | None = None) -> Iterator[VideoRecord]:
    """Reconstruct and score each video, yielding its record when done.

    Originals are compared at the model's resolution (resized like the model's input). With ``frames_dir``
    every reconstruction is also written losslessly as ``frames_dir/<name>/000000.png…`` (the protocol
    compares lossless frames: re-encoded mp4 changes the numbers). ``smoothing`` smooths each video's motion
    (not the papers' protocol; shows what ``animate --smooth`` does to the scores).
    """
    animator = Animator(model, batch_size=batch_size, precision=precision, smoothing=smoothing, backend=backend,
                        threads=threads)
    for name, path in videos.items():
        record = VideoRecord(name)
        with open_frames(path) as frames, frame_writer(frames_dir, name) as writer:
            for batch in animator.reconstruct(frames):
                record.add(metrics, batch.prediction, batch.driving / 255.0, batch.pose_driving)
                if writer is not None:
                    writer.write_many(batch.prediction_uint8)
        yield record


@contextlib.contextmanager
def frame_writer(frames_dir: Path | None, name: str) -> Iterator[FrameDirWriter | None]:
    """Lossless PNG frames of one video under ``frames_dir/name``, or nothing without ``frames_dir``."""
    if frames_dir is None:
        yield None
        return
    # eval --out owns these folders: a rerun replaces them whole.
    with FrameDirWriter(frames_dir / name, DEFAULT_FRAME_DIR_FPS, overwrite=True) as writer:
        yield writer
