"""The image-to-video protocol (Monkey-Net §4.2, the test part of the official prediction.py): each test
clip's first ``num_frames`` frames are generated from its first frame alone — the model's predictor continues
the keypoints of the first ``init_frames`` frames, the generator renders every frame from frame 0 — and
scored against the real frames, frame 0 included, at the model's resolution."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from animcli.evaluation.metrics import Metric
from animcli.evaluation.reconstruct import frame_writer
from animcli.evaluation.report import VideoRecord
from animcli.evaluation.videos import open_frames
from animcli.inference.animator import Animator
from animcli.media import resize_square
from animcli.models.base import AnimationModel


def predict_videos(model: AnimationModel, videos: dict[str, Path], metrics: list[Metric], *,
                   batch_size: int | None = None, precision: str = "auto",
                   frames_dir: Path | None = None) -> Iterator[VideoRecord]:
    """Predict and score each video's first frames, yielding its record when done (``frames_dir``: also write
    every prediction as lossless PNG frames)."""
    settings = model.prediction_settings()
    animator = Animator(model, batch_size=batch_size, precision=precision)
    for name, path in videos.items():
        record = VideoRecord(name)
        with open_frames(path) as frames:
            clip = np.stack([resize_square(frame, animator.size)
                             for frame in itertools.islice(frames, settings.num_frames)])
        with frame_writer(frames_dir, name) as writer:
            done = 0
            for batch in animator.predict(clip[0], len(clip), clip[:settings.init_frames]):
                record.add(metrics, batch.prediction, clip[done:done + len(batch.prediction)] / 255.0)
                done += len(batch.prediction)
                if writer is not None:
                    writer.write_many(batch.prediction_uint8)
        yield record
