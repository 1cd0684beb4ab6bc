"""``animcli bench``: the official per-frame loop against animcli's engine, in one process."""

from __future__ import annotations

from typing import Annotated

import typer

from animcli.cli.app import app, fail, user_errors
from animcli.cli.options import (
    BackendOption,
    BatchSizeOption,
    CheckpointOption,
    ConfigOption,
    ModelOption,
    ThreadsOption,
)
from animcli.common.choices import TransferMode


@app.command("bench")
def bench(
    model: ModelOption = None,
    checkpoint: CheckpointOption = None,
    config: ConfigOption = None,
    frames: int = typer.Option(16, "--frames", min=1, help="Driving frames each path animates."),
    backend: BackendOption = "auto",
    threads: ThreadsOption = None,
    batch_size: BatchSizeOption = None,
    size: int = typer.Option(None, "--size", min=8, help="Input size (default: the model's)."),
    mode: Annotated[TransferMode | None, typer.Option(
        "--mode", help="relative or absolute (default: the model's own).")] = None,
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Frames/s, peak RSS and outputs of the official-style per-frame loop (batch 1, source re-encoded every
    frame) and of animcli's engine, on the same weights and frames, interleaved in one process."""
    if model is not None and checkpoint is not None:
        raise fail("give either --model or --checkpoint, not both")
    if model is None and checkpoint is None and config is None:
        raise fail("give --model, --checkpoint or --config")
    with user_errors():
        import json

        from animcli.inference.batching import parse_batch_size
        from animcli.models.base import TransferOptions
        from animcli.weights.loading import load_model, random_model
        from animcli.workflows.bench import run_bench

        animation_model = (random_model(config, device="cpu") if model is None and checkpoint is None
                           else load_model(checkpoint, config, model=model, device="cpu"))
        options = TransferOptions(mode=mode) if mode else None
        result = run_bench(animation_model, frames, backend=backend, threads=threads,
                           batch_size=parse_batch_size(batch_size), size=size, options=options)
    if json_output:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    typer.echo(f"{result.family} {result.size}px, {result.mode} mode, {frames} frames, {result.threads} threads, "
               f"engine: {result.backend} backend, batch {result.batch_size}")
    for path in (result.official, result.engine):
        typer.echo(f"  {path.name:9s} {path.fps:7.3f} frames/s  ({path.seconds / path.frames:.3f} s/frame)  "
                   f"peak RSS {path.peak_rss_mib:7.0f} MiB")
    typer.echo(f"  ratio (engine / official): {result.ratio:.2f}x   max |difference|: {result.max_abs_diff:.2e}")
    typer.echo(f"  engine work: {result.gflop_per_frame:.1f} GFLOP/frame (convolutions and matmuls) → "
               f"{result.engine_gflops:.0f} GFLOP/s")
