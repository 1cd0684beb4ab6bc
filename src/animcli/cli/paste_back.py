"""``animcli paste-back SIDECAR ANIMATED… -o OUT``: animated face crops back into their photo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from animcli.cli.app import app, user_errors
from animcli.cli.options import BlendOption, OverwriteOption, QuietOption
from animcli.cli.progress import frame_progress


@app.command("paste-back")
def paste_back(
    sidecar: Path = typer.Argument(..., help="faces.json written by `animcli crop PHOTO --faces … -o FOLDER` (or "
                                             "that folder)."),
    animated: list[str] = typer.Argument(..., metavar="ANIMATED...",
                                         help="Animated crops (videos, frame folders or stills): N=PATH for face "
                                              "N, or PATH for the sidecar's next face in order. Faces not given "
                                              "stay as in the photo."),
    output: str = typer.Option(..., "--output", "-o", help="Result: a video, a folder of frames, or an image "
                                                           "when every crop is a still."),
    original: Annotated[Path | None, typer.Option(
        "--original", metavar="IMAGE", help="Paste into this photo instead of the one the sidecar names (same "
                                            "size).")] = None,
    blend: BlendOption = "feather",
    fps: Annotated[float | None, typer.Option(
        "--fps", min=0.001, help="Output frame rate (default: the animated videos').")] = None,
    audio: Annotated[bool, typer.Option("--audio/--no-audio", help="Keep the first animated video's sound.")] = True,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """Paste animated face crops back into the photo `crop --faces` cut them from (seamless blending, pixels
    away from the faces untouched)."""
    with user_errors():
        from animcli.workflows.paste_back import paste_back_files

        with frame_progress(quiet, "pasting") as on_progress:
            result = paste_back_files(sidecar, animated, output, original=original, blend=blend, fps=fps,
                                      audio=audio, overwrite=overwrite, on_progress=on_progress)
    if not quiet:
        width, height = result.frame_size or (0, 0)
        faces = ", ".join(map(str, result.faces))
        what = (f"a {width}x{height} image" if result.fps is None
                else f"{result.frames} frames of {width}x{height} at {result.fps:g} fps")
        typer.echo(f"wrote {what} (face {faces} pasted back) to {output}", err=True)
