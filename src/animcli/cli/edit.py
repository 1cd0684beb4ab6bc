"""``animcli edit SOURCE --edit DIRECTION=VALUE -o OUT``: motion editing of an image or a video."""

from __future__ import annotations

from pathlib import Path

import typer

from animcli.cli.app import app, fail, user_errors
from animcli.cli.options import (
    CheckpointOption,
    ConfigOption,
    DeviceOption,
    EditOption,
    Fp16Option,
    ModelOption,
    NormalizeOption,
    OutputSizeOption,
    OverwriteOption,
    PrecisionOption,
    QuietOption,
    chosen_precision,
)
from animcli.cli.progress import frame_progress

#: the one published model with named motion directions.
DEFAULT_EDIT_MODEL = "liax"


def default_output(source: Path, video: bool) -> Path:
    return Path(f"{source.stem}-edited{'.mp4' if video else source.suffix}")


@app.command()
def edit(
    source: Path = typer.Argument(..., help="Image to edit (png/jpg/webp/bmp), or a video (or folder of frames) to "
                                            "re-render from its first frame with the edit."),
    edit: EditOption = None,
    sweep: list[str] = typer.Option(None, "--sweep", help="DIRECTION[=AMPLITUDE]: write a video of the image "
                                                          "swinging along DIRECTION and back (the official "
                                                          "manipulation video; amplitude from --edit if not given); "
                                                          "repeatable."),
    output: str = typer.Option(None, "--output", "-o", help="Result: an image for an image edit, a video (or - for "
                                                            "stdout) otherwise. Default: SOURCE-edited.*"),
    model: ModelOption = None,
    checkpoint: CheckpointOption = None,
    config: ConfigOption = None,
    normalize: NormalizeOption = "frame",
    device: DeviceOption = "auto",
    precision: PrecisionOption = None,
    fp16: Fp16Option = None,
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Frames per forward pass."),
    fps: float = typer.Option(None, "--fps", min=0.001, help="Output frame rate (default: the video's; 12 for "
                                                             "--sweep, as the official code)."),
    audio: bool = typer.Option(True, "--audio/--no-audio", help="Keep a video's audio track."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Write the source beside the result."),
    output_size: OutputSizeOption = None,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """Edit SOURCE's head pose, mouth or eyes along the model's motion directions (default model: liax)."""
    with user_errors():
        from animcli.weights.loading import load_model
        from animcli.workflows.edit import edit_files, is_video
        from animcli.workflows.output import OutputStyle

        video_output = is_video(source) or bool(sweep)
        if output is None:
            output = str(default_output(source, video_output))
            if Path(output).exists():
                raise fail(f"{output} already exists; choose the output with -o")
        if model is not None and checkpoint is not None:
            raise fail("give either --model or --checkpoint, not both")
        animation_model = load_model(checkpoint, config, model=model or (None if checkpoint else DEFAULT_EDIT_MODEL),
                                     device=device)
        with frame_progress(quiet, "editing") as on_progress:
            result = edit_files(animation_model, source, output, edit or [], sweep=sweep or [],
                                normalize=normalize, batch_size=batch_size,
                                precision=chosen_precision(precision, fp16), fps=fps, audio=audio,
                                style=OutputStyle(side_by_side=side_by_side, output_size=output_size),
                                overwrite=overwrite, on_progress=on_progress)
    if not quiet:
        size = "" if result.frame_size is None else "{}x{} ".format(*result.frame_size)
        what = f"a {size}image" if result.fps is None else f"{result.frames} frames of {size}at {result.fps:g} fps"
        hint = f" · {result.precision_hint}" if result.precision_hint else ""
        typer.echo(f"wrote {what} to {output}{hint}", err=True)
