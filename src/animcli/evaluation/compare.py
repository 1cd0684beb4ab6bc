"""Scoring videos made by any tool (``--pred DIR --gt DIR``) with the same metrics, matched by name."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from animcli.common.errors import AnimcliError
from animcli.evaluation.metrics import Metric
from animcli.evaluation.report import VideoRecord
from animcli.evaluation.videos import list_videos, open_frames
from animcli.media import resize

VideoPair = tuple[Path, Path]


def matched_videos(predicted_root: Path, original_root: Path,
                   limit: int | None = None) -> dict[str, VideoPair]:
    """(predicted, original) paths by name for the first ``limit`` originals; every one needs a prediction,
    and a prediction without an original is an error too (most likely the wrong folder)."""
    predicted, originals = list_videos(predicted_root), list_videos(original_root)
    strays = [name for name in predicted if name not in originals]
    if strays:
        raise AnimcliError(f"{predicted_root}: {len(strays)} videos have no original in {original_root} "
                           f"(e.g. {strays[0]!r})")
    names = list(originals)[:limit]
    missing = [name for name in names if name not in predicted]
    if missing:
        raise AnimcliError(f"{predicted_root}: no prediction for {len(missing)} of the {len(names)} videos "
                           f"(e.g. {missing[0]!r})")
    return {name: (predicted[name], originals[name]) for name in names}


def compare_videos(pairs: dict[str, VideoPair], metrics: list[Metric], *,
                   batch_size: int = 8, resize_originals: bool = False) -> Iterator[VideoRecord]:
    """Score each predicted video against its original frame by frame, yielding its record when done."""
    for name, (predicted_path, original_path) in pairs.items():
        record = VideoRecord(name)
        with open_frames(predicted_path) as predicted, open_frames(original_path) as original:
            frame_pairs = _paired_frames(name, predicted, original, resize_originals)
            while batch := list(itertools.islice(frame_pairs, batch_size)):
                predicted_batch, original_batch = (np.stack(frames).astype(np.float32) / 255.0
                                                   for frames in zip(*batch, strict=True))
                record.add(metrics, predicted_batch, original_batch)
        yield record


def _paired_frames(name: str, predicted: Iterator[np.ndarray], original: Iterator[np.ndarray],
                   resize_originals: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frame pairs; videos of different lengths are refused, and so are different frame sizes unless
    ``resize_originals`` (the metrics compare pixel to pixel: quietly resizing one side would score the resampling
    as much as the method, so it has to be asked for — e.g. for a model that reconstructs at its own resolution)."""
    for predicted_frame, original_frame in itertools.zip_longest(predicted, original):
        if predicted_frame is None or original_frame is None:
            raise AnimcliError(f"{name}: the prediction and the original have different frame counts")
        if resize_originals:
            original_frame = resize(original_frame, predicted_frame.shape[1], predicted_frame.shape[0])
        if predicted_frame.shape != original_frame.shape:
            (ph, pw), (oh, ow) = predicted_frame.shape[:2], original_frame.shape[:2]
            raise AnimcliError(f"{name}: the prediction's frames are {pw}x{ph} but the original's are {ow}x{oh} "
                               "(--resize-gt scores them at the prediction's size)")
        yield predicted_frame, original_frame
