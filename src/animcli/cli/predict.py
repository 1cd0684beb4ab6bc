"""``animcli predict SOURCE -o OUT``: image-to-video with a model's motion predictor."""

from __future__ import annotations

from pathlib import Path

import typer

from animcli.cli.app import app, fail, user_errors
from animcli.cli.options import (
    BackendOption,
    CheckpointOption,
    ConfigOption,
    DeviceOption,
    Fp16Option,
    ModelOption,
    PrecisionOption,
    QuietOption,
    ThreadsOption,
    chosen_precision,
)
from animcli.cli.progress import frame_progress


@app.command()
def predict(
    source: Path = typer.Argument(..., help="Source image (png/jpg/webp/bmp; any size, resized to the model's)."),
    output: str = typer.Option(..., "--output", "-o",
                               help="Result: .mp4/.webm/.gif/.mov/.mkv, a folder (PNG frames) or - for stdout."),
    model: ModelOption = None,
    checkpoint: CheckpointOption = None,
    config: ConfigOption = None,
    frames: int = typer.Option(None, "--frames", min=1, metavar="N",
                               help="Frames to generate (default: the length the predictor was trained for)."),
    init: str = typer.Option(None, "--init", metavar="FRAMES_DIR",
                             help="A clip (folder of frames or video) whose first frames' motion the prediction "
                                  "continues, instead of the source's own pose."),
    device: DeviceOption = "auto",
    precision: PrecisionOption = None,
    fp16: Fp16Option = None,
    batch_size: int = typer.Option(None, "--batch-size", min=1,
                                   help="Frames per generator pass (default: 8 on CUDA, 1 on CPU)."),
    backend: BackendOption = "auto",
    threads: ThreadsOption = None,
    fps: float = typer.Option(None, "--fps", min=0.001,
                              help="Output frame rate (default: the --init clip's, else 25)."),
    show_keypoints: bool = typer.Option(False, "--show-keypoints", help="Draw the predicted keypoints."),
    quiet: QuietOption = False,
) -> None:
    """Generate a video from the still image SOURCE: the model predicts how its keypoints move on and renders
    every frame from SOURCE (Monkey-Net image-to-video; train a predictor with `animcli train --task prediction`)."""
    if (model is None) == (checkpoint is None):
        raise fail("give one of --model or --checkpoint")
    with user_errors():
        from animcli.inference.animator import Animator
        from animcli.weights.loading import load_model
        from animcli.workflows.output import OutputStyle
        from animcli.workflows.predict import predict_files

        animator = Animator(load_model(checkpoint, config, model=model, device=device), batch_size=batch_size,
                            precision=chosen_precision(precision, fp16), backend=backend, threads=threads)
        with frame_progress(quiet, "predicting") as on_progress:
            result = predict_files(animator, source, output, num_frames=frames, init=init, fps=fps,
                                   style=OutputStyle(show_keypoints=show_keypoints), on_progress=on_progress)
    if not quiet:
        hint = f" · {result.precision_hint}" if result.precision_hint else ""
        typer.echo(f"wrote {result.frames} frames at {result.fps:g} fps to {output}{hint}", err=True)
