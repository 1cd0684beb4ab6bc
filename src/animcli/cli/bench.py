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
    PrecisionOption,
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
    precision: PrecisionOption = None,
    compare: bool = typer.Option(False, "--compare", help="Every available backend in fp32 and in bf16 (where this "
                                                          "CPU has bf16 units), side by side in paired rounds; "
                                                          "--backend/--precision narrow the set."),
    threads: ThreadsOption = None,
    batch_size: BatchSizeOption = None,
    size: int = typer.Option(None, "--size", min=8, help="Input size (default: the model's)."),
    mode: Annotated[TransferMode | None, typer.Option(
        "--mode", help="relative or absolute (default: the model's own).")] = None,
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Frames/s, peak RSS and outputs of the official-style per-frame loop (batch 1, source re-encoded every
    frame, float32) and of animcli's engine, on the same weights and frames, interleaved in one process.

    The speeds are recorded (beside the engine's cache), so that --backend auto then picks the fastest backend
    measured here for each precision, and a fp32 run on a CPU with bf16 units can say what bf16 would gain."""
    if model is not None and checkpoint is not None:
        raise fail("give either --model or --checkpoint, not both")
    if model is None and checkpoint is None and config is None:
        raise fail("give --model, --checkpoint or --config")
    with user_errors():
        import json

        import torch

        from animcli.inference import measurements
        from animcli.inference.batching import parse_batch_size
        from animcli.models.base import TransferOptions
        from animcli.weights.loading import load_model, random_model
        from animcli.workflows.bench import comparison_variants, measurements_of, run_bench, run_comparison

        animation_model = (random_model(config, device="cpu") if model is None and checkpoint is None
                           else load_model(checkpoint, config, model=model, device="cpu"))
        options = TransferOptions(mode=mode) if mode else None
        if compare:
            variants = comparison_variants(torch.device("cpu"), None if backend == "auto" else [backend],
                                           None if precision in (None, "auto") else [precision])
            result = run_comparison(animation_model, frames, variants, threads=threads,
                                    batch_size=parse_batch_size(batch_size), size=size, options=options)
        else:
            result = run_bench(animation_model, frames, backend=backend, precision=precision or "auto",
                               threads=threads, batch_size=parse_batch_size(batch_size), size=size, options=options)
        recorded = measurements.save(measurements_of(result))
    if json_output:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    if compare:
        _print_comparison(result, frames)
        typer.echo(f"recorded in {recorded}: --backend auto now picks the fastest of these for each precision",
                   err=True)
        return
    typer.echo(f"{result.family} {result.size}px, {result.mode} mode, {frames} frames, {result.threads} threads, "
               f"engine: {result.backend} backend in {result.precision}, batch {result.batch_size}")
    for path in (result.official, result.engine):
        typer.echo(f"  {path.name:9s} {path.fps:7.3f} frames/s  ({path.seconds / path.frames:.3f} s/frame)  "
                   f"peak RSS {path.peak_rss_mib:7.0f} MiB")
    typer.echo(f"  ratio (engine / official): {result.ratio:.2f}x   max |difference|: {result.max_abs_diff:.2e} "
               f"({result.max_abs_diff * 255:.2f} / mean {result.mean_abs_diff * 255:.3f} grey levels)")
    typer.echo(f"  engine work: {result.gflop_per_frame:.1f} GFLOP/frame (convolutions and matmuls) → "
               f"{result.engine_gflops:.0f} GFLOP/s")


def _print_comparison(result, frames: int) -> None:  # noqa: ANN001 - ComparisonResult, imported lazily
    from animcli.workflows.bench import CHUNK_FRAMES

    typer.echo(f"{result.family} {result.size}px, {result.mode} mode, {frames} frames, {result.threads} threads, "
               f"batch {result.batch_size}, {result.cpu}; paired rounds of {CHUNK_FRAMES} frames")
    typer.echo(f"  {'path':22s} {'frames/s':>9s} {'s/frame':>8s} {'vs official':>12s} "
               f"{'max / mean diff (grey levels)':>30s} {'peak RSS':>9s}")
    official = result.official
    typer.echo(f"  {'official (torch fp32)':22s} {official.fps:9.3f} {official.seconds / official.frames:8.3f} "
               f"{1:11.2f}x {'0 / 0':>30s} {official.peak_rss_mib:5.0f} MiB")
    for variant in result.variants:
        path = variant.path
        difference = f"{variant.max_grey:.2f} / {variant.mean_grey:.3f}"
        name = f"{variant.backend} {variant.precision}"
        typer.echo(f"  {name:22s} {path.fps:9.3f} {path.seconds / path.frames:8.3f} {variant.ratio:11.2f}x "
                   f"{difference:>30s} {path.peak_rss_mib:5.0f} MiB")
    fp32, bf16 = result.fastest("fp32"), result.fastest("bf16")
    if fp32 is not None and bf16 is not None:
        typer.echo(f"  bf16 ({bf16.backend}) / fp32 ({fp32.backend}): {bf16.path.fps / fp32.path.fps:.2f}x")
