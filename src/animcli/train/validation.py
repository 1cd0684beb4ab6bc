"""Held-out reconstruction L1 of a trained model against the "copy the source frame" baseline.

The model side is the papers' protocol as ``animcli eval`` runs it (source = frame 0, every frame's raw
motion, mean |prediction − frame| in [0, 1]); the baseline predicts every frame as frame 0, which is what a
model that learned no motion at all would score.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animcli.evaluation.metrics import L1
from animcli.evaluation.reconstruct import reconstruct_videos
from animcli.evaluation.report import VideoRecord
from animcli.evaluation.videos import list_videos, open_frames
from animcli.media import resize_square
from animcli.models.base import AnimationModel


@dataclass(frozen=True)
class ReconstructionL1:
    model: float
    copy_source: float
    videos: int
    frames: int


def copy_source_l1(path: Path, size: int) -> tuple[float, int]:
    """(sum over frames of mean |frame 0 − frame|, frame count) at the model's resolution."""
    with open_frames(path) as frames:
        clip = np.stack([resize_square(frame, size) for frame in frames]).astype(np.float32) / 255.0
    per_frame = np.abs(clip - clip[:1]).reshape(len(clip), -1).mean(axis=1, dtype=np.float64)
    return float(per_frame.sum()), len(clip)


def reconstruction_l1(model: AnimationModel, test_root: Path, max_videos: int | None = None,
                      batch_size: int = 16) -> ReconstructionL1:
    """Mean over all frames of all (the first ``max_videos``) test videos, model and baseline."""
    videos = dict(itertools.islice(list_videos(test_root).items(), max_videos))
    overall = VideoRecord("all")
    for record in reconstruct_videos(model, videos, [L1()], batch_size=batch_size, precision="fp32"):
        overall.merge(record)
    baseline_total, baseline_frames = 0.0, 0
    for path in videos.values():
        total, count = copy_source_l1(path, model.size)
        baseline_total += total
        baseline_frames += count
    return ReconstructionL1(model=overall.scores["l1"].mean, copy_source=baseline_total / baseline_frames,
                            videos=len(videos), frames=overall.frames)
