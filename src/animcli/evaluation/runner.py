"""`animcli eval` as one library call: the papers' reconstruction (or image-to-video) protocol for a model, or
scoring another tool's videos (``pred`` against ``gt``), into a :class:`~animcli.evaluation.report.Report`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from animcli.common.choices import EvaluationTask
from animcli.common.errors import AnimcliError
from animcli.common.files import check_output_folder
from animcli.evaluation.compare import compare_videos, matched_videos
from animcli.evaluation.metrics import select_metrics
from animcli.evaluation.prediction import predict_videos
from animcli.evaluation.reconstruct import reconstruct_videos
from animcli.evaluation.report import Report, VideoRecord
from animcli.evaluation.sharded import reconstruct_sharded
from animcli.evaluation.videos import list_videos
from animcli.inference.smoothing import Smoothing
from animcli.jobs.pools import EngineOptions
from animcli.workflows.request import ModelSpec

#: frames per batch when scoring existing videos (no model to fit in memory).
COMPARISON_BATCH_SIZE = 8


def run(*, data: Path | None = None, model: str | None = None, checkpoint: Path | None = None,
        config: str | None = None, pred: Path | None = None, gt: Path | None = None,
        task: EvaluationTask = "reconstruction", limit: int | None = None,
        out: Path | None = None, metrics: list[str] | None = None, device: str = "auto", precision: str = "auto",
        batch_size: int | str | None = None, resize_gt: bool = False, smoothing: Smoothing | None = None,
        backend: str = "torch", threads: int | None = None,
        engine: EngineOptions | None = None,
        on_progress: Callable[[int, int | None], None] | None = None) -> Report:
    """Evaluate a model (``data`` + ``model`` or ``checkpoint``) or existing videos (``pred`` + ``gt``).

    ``task`` "prediction" generates every video from its first frame alone (image-to-video, models with a
    motion predictor). ``out`` also receives the generated videos (PNG frame folders under ``out/<task>``) and
    ``distribution.png``;
    ``on_progress(done, total)`` is called after every video. ``resize_gt`` scores ``gt`` frames resized to the
    predictions' size instead of refusing a size mismatch. ``smoothing`` smooths each video's motion as
    ``animate --smooth`` does (not the papers' protocol: it shows what smoothing does to the scores).
    ``batch_size``, ``backend`` and ``threads`` are the :class:`~animcli.inference.animator.Animator`'s (a batch size of
    ``"auto"`` scores existing videos ``COMPARISON_BATCH_SIZE`` frames at a time).
    With ``engine`` the reconstructions are spread over its workers (same records; see
    :mod:`~animcli.evaluation.sharded`).
    """
    comparing = pred is not None or gt is not None
    if comparing and (pred is None or gt is None):
        raise AnimcliError("--pred and --gt go together")
    if comparing and (model or checkpoint or config or data or task != "reconstruction"):
        raise AnimcliError("--pred/--gt score existing videos: drop --model/--checkpoint/--config/--data/--task")
    if not comparing and (data is None or (model is None) == (checkpoint is None)):
        raise AnimcliError("give --data and one of --model/--checkpoint (or --pred DIR --gt DIR)")
    if comparing and smoothing is not None:
        raise AnimcliError("--smooth applies to a model's reconstructions, not to --pred videos")
    if task == "prediction" and smoothing is not None:
        raise AnimcliError("--smooth applies to reconstructions, not to --task prediction")
    if engine is not None and (comparing or task == "prediction"):
        raise AnimcliError("--engine spreads model reconstructions; --pred/--gt and --task prediction run here")
    if out is not None:  # its frames and plot must never land in (or replace) the data they score
        check_output_folder(out, {"--data": data, "--pred": pred, "--gt": gt}, writes_into=(task,))
    selected, unavailable = select_metrics(metrics)
    if comparing:
        pairs = matched_videos(pred, gt, limit)
        context: dict[str, Any] = {"mode": "comparison", "pred": str(pred), "gt": str(gt)}
        frames_per_batch = batch_size if isinstance(batch_size, int) else COMPARISON_BATCH_SIZE
        records = compare_videos(pairs, selected, batch_size=frames_per_batch, resize_originals=resize_gt)
    else:
        videos = dict(list(list_videos(data).items())[:limit])
        spec = ModelSpec(model, checkpoint, config, device)
        # Sharded, the workers load the model; this process only reads what it is (on the CPU).
        animation_model = spec.load() if engine is None else replace(spec, device="cpu").load()
        context = {"mode": task, "model": model, "checkpoint": checkpoint and str(checkpoint),
                   "config": config, "family": animation_model.family, "size": animation_model.size,
                   "data": str(data), "smooth_strength": smoothing and smoothing.strength,
                   "precision": precision}
        frames_dir = out and out / task
        if task == "prediction":
            records = predict_videos(animation_model, videos, selected, batch_size=batch_size,
                                     precision=precision, frames_dir=frames_dir)
        elif engine is None:
            records = reconstruct_videos(animation_model, videos, selected, batch_size=batch_size,
                                         precision=precision, backend=backend, threads=threads, frames_dir=frames_dir,
                                         smoothing=smoothing)
        else:
            records = reconstruct_sharded(spec, videos, selected, engine, batch_size=batch_size,
                                          precision=precision, backend=backend, threads=threads, frames_dir=frames_dir,
                                          smoothing=smoothing)
        pairs = videos
    report = Report(selected, unavailable, _collect(records, len(pairs), on_progress), context)
    if out is not None:
        report.write_distribution(out / "distribution.png")
    return report


def _collect(records: Iterable[VideoRecord], total: int,
             on_progress: Callable[[int, int | None], None] | None) -> list[VideoRecord]:
    done: list[VideoRecord] = []
    for record in records:
        done.append(record)
        if on_progress is not None:
            on_progress(len(done), total)
    return done

