"""``animcli eval`` (alias ``evaluate``): the papers' reconstruction protocol, or scoring another tool's
videos with ``--pred DIR --gt DIR``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from animcli.cli.app import app, fail, user_errors
from animcli.cli.options import (
    AddressOption,
    BackendOption,
    BatchSizeOption,
    CheckpointOption,
    ConfigOption,
    DeviceOption,
    EngineOption,
    Fp16Option,
    MaxPixelsOption,
    ModelOption,
    PrecisionOption,
    QuietOption,
    SmoothOption,
    SmoothStrengthOption,
    StrictOption,
    ThreadsOption,
    WorkersOption,
    chosen_precision,
)
from animcli.cli.progress import frame_progress
from animcli.common.choices import EvaluationTask

METRICS_HELP = ("Comma-separated metrics: l1, akd, aed (mean |Δ| of embeddings, as in the papers' tables), "
                "aed-ssd (sum of squared Δ), mkr, jitter (= jitter-motion, jitter-frames: mean |2nd temporal "
                "difference| of the driving keypoints/motion code and of the output). "
                "Default: l1,akd,aed,mkr where available.")


def evaluate(
    model: ModelOption = None,
    checkpoint: CheckpointOption = None,
    config: ConfigOption = None,
    data: Path = typer.Option(None, "--data",
                              help="Test videos (e.g. DATASET/test): files, frame folders or png strips."),
    pred: Path = typer.Option(None, "--pred", help="Generated videos to score instead of a model (by name)."),
    gt: Path = typer.Option(None, "--gt", help="The original videos for --pred."),
    resize_gt: bool = typer.Option(False, "--resize-gt", help="Resize the --gt frames to the predictions' size "
                                                              "(a model's output at its own resolution) instead "
                                                              "of refusing a size mismatch."),
    task: Annotated[EvaluationTask, typer.Option(
        "--task", help="reconstruction: rebuild each video from its first frame and every frame's motion; "
                       "prediction: generate each video from its first frame alone with the model's motion "
                       "predictor (Monkey-Net image-to-video).")] = "reconstruction",
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N videos (name order)."),
    out: Path = typer.Option(None, "--out",
                             help="Also write the reconstructions (lossless PNG frame folders) and "
                                  "distribution.png (per-video scores) here."),
    json_output: bool = typer.Option(False, "--json", help="Print the full report as JSON on stdout."),
    metrics: str = typer.Option(None, "--metrics", help=METRICS_HELP),
    device: DeviceOption = "auto",
    precision: PrecisionOption = None,
    fp16: Fp16Option = None,
    batch_size: BatchSizeOption = None,
    backend: BackendOption = "auto",
    threads: ThreadsOption = None,
    smooth: SmoothOption = False,
    smooth_strength: SmoothStrengthOption = None,
    engine: EngineOption = None,
    workers: WorkersOption = None,
    address: AddressOption = None,
    strict: StrictOption = False,
    max_pixels: MaxPixelsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Score a model with the papers' reconstruction protocol (L1, AKD, AED, MKR).

    Every test video is rebuilt from its first frame and the raw motion of each frame, then compared with
    the original (--task prediction: generated from its first frame alone by the model's motion predictor).
    --pred DIR --gt DIR scores videos made by any other tool with the same metrics.
    With --engine the videos are spread over workers (same records and scores as in this one process).
    """
    if engine is None and (workers is not None or address is not None):
        raise fail("--workers and --address go with --engine")
    with user_errors():
        from rich.console import Console

        from animcli.evaluation import run
        from animcli.inference.batching import parse_batch_size
        from animcli.inference.smoothing import Smoothing
        from animcli.jobs.pools import EngineOptions
        from animcli.media.readers import InputLimits

        progress = frame_progress(quiet, "evaluating videos", unit="videos/s")
        with InputLimits(strict, max_pixels).applied(), progress as on_progress:
            report = run(data=data, model=model, checkpoint=checkpoint, config=config, pred=pred, gt=gt, task=task,
                         limit=limit, out=out, metrics=None if metrics is None else _names(metrics),
                         device=device, precision=chosen_precision(precision, fp16),
                         batch_size=parse_batch_size(batch_size), backend=backend,
                         threads=threads, resize_gt=resize_gt,
                         smoothing=Smoothing.from_options(smooth, smooth_strength),
                         on_progress=on_progress, engine=engine and EngineOptions(engine, workers, address))
        report.print_table(Console(stderr=True), explain_unscored=metrics is not None)
    if json_output:
        typer.echo(json.dumps(report.as_dict(), indent=2))


def _names(metrics: str) -> list[str]:
    return [name.strip().lower() for name in metrics.split(",") if name.strip()]


app.command("eval")(evaluate)
app.command("evaluate", help="Alias of `eval`.")(evaluate)
