"""``animcli eval`` (alias ``evaluate``): the papers' reconstruction protocol, or scoring another tool's
videos with ``--pred DIR --gt DIR``."""

from __future__ import annotations

from pathlib import Path

import typer

from animcli.cli.animate import MODEL_HELP
from animcli.cli.app import app, fail, user_errors
from animcli.cli.progress import frame_progress

METRICS_HELP = ("Comma-separated metrics: l1, akd, aed (mean |Δ| of embeddings, as in the papers' tables), "
                "aed-ssd (sum of squared Δ), mkr. Default: l1,akd,aed,mkr where available.")


def evaluate(
    model: str = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    checkpoint: Path = typer.Option(None, "--checkpoint",
                                    help="Checkpoint file (official .pth.tar/.pt or .safetensors)."),
    config: str = typer.Option(None, "--config",
                               help="Config: a path to an official-format yaml/json or a shipped name."),
    data: Path = typer.Option(None, "--data",
                              help="Test videos (e.g. DATASET/test): files, frame folders or png strips."),
    pred: Path = typer.Option(None, "--pred", help="Generated videos to score instead of a model (by name)."),
    gt: Path = typer.Option(None, "--gt", help="The original videos for --pred."),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N videos (name order)."),
    out: Path = typer.Option(None, "--out",
                             help="Also write the reconstructions (lossless PNG frame folders) and "
                                  "distribution.png (per-video scores) here."),
    json_output: bool = typer.Option(False, "--json", help="Print the full report as JSON on stdout."),
    metrics: str = typer.Option(None, "--metrics", help=METRICS_HELP),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    fp16: bool = typer.Option(None, "--fp16/--no-fp16", help="float16 autocast (default on for CUDA)."),
    batch_size: int = typer.Option(None, "--batch-size", min=1,
                                   help="Frames per forward pass (default: 8 on CUDA, 1 on CPU; 8 for --pred)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Score a model with the papers' reconstruction protocol (L1, AKD, AED, MKR).

    Every test video is rebuilt from its first frame and the raw motion of each frame, then compared with
    the original. --pred DIR --gt DIR scores videos made by any other tool with the same metrics.
    """
    comparing = pred is not None or gt is not None
    if comparing and (pred is None or gt is None):
        raise fail("--pred and --gt go together")
    if comparing and (model or checkpoint or config or data):
        raise fail("--pred/--gt score existing videos: drop --model/--checkpoint/--config/--data")
    if not comparing and (data is None or (model is None) == (checkpoint is None)):
        raise fail("give --data and one of --model/--checkpoint (or --pred DIR --gt DIR)")
    with user_errors():
        import json

        from rich.console import Console

        from animcli.evaluation.metrics import select_metrics
        from animcli.evaluation.report import Report

        selected, unavailable = select_metrics(None if metrics is None else _names(metrics))
        if comparing:
            from animcli.evaluation.compare import compare_videos, matched_videos

            pairs = matched_videos(pred, gt, limit)
            context = {"mode": "comparison", "pred": str(pred), "gt": str(gt)}
            records = compare_videos(pairs, selected, batch_size=batch_size or 8)
        else:
            from animcli.evaluation.reconstruct import reconstruct_videos
            from animcli.evaluation.videos import list_videos
            from animcli.loading import load_model

            pairs = dict(list(list_videos(data).items())[:limit])
            animation_model = load_model(checkpoint, config, model=model, device=device)
            context = {"mode": "reconstruction", "model": model, "checkpoint": checkpoint and str(checkpoint),
                       "config": config, "family": animation_model.family, "size": animation_model.size,
                       "data": str(data)}
            records = reconstruct_videos(animation_model, pairs, selected, batch_size=batch_size, fp16=fp16,
                                         frames_dir=out and out / "reconstruction")
        done = []
        with frame_progress(quiet, "evaluating videos", unit="videos/s") as on_progress:
            for record in records:
                done.append(record)
                on_progress(len(done), len(pairs))
        report = Report(selected, unavailable, done, context)
        if out is not None:
            report.write_distribution(out / "distribution.png")
        report.print_table(Console(stderr=True))
        if json_output:
            typer.echo(json.dumps(report.as_dict(), indent=2))


def _names(metrics: str) -> list[str]:
    return [name.strip().lower() for name in metrics.split(",") if name.strip()]


app.command("eval")(evaluate)
app.command("evaluate", help="Alias of `eval`.")(evaluate)
