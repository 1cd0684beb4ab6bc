"""``animcli demo``: animate generated inputs with the bundled demo model (offline)."""

from __future__ import annotations

from pathlib import Path

import typer

from animcli.cli.app import app, user_errors
from animcli.cli.options import DeviceOption, QuietOption
from animcli.cli.progress import frame_progress


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Folder for source.png, driving.mp4, result.mp4."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated source and driving video."),
    frames: int = typer.Option(48, "--frames", min=2, help="Length of the driving video."),
    device: DeviceOption = "auto",
    quiet: QuietOption = False,
) -> None:
    """Animate a generated source image with a generated driving video using the bundled demo model."""
    with user_errors():
        from animcli.workflows.demo import run_demo

        with frame_progress(quiet, "demo") as on_progress:
            result = run_demo(out, seed=seed, num_frames=frames, device=device, on_progress=on_progress)
    if not quiet:
        typer.echo(f"wrote {out / 'result.mp4'} ({result.frames} frames: source | driving | result)", err=True)
