"""``animcli data synth OUT``: the procedural dataset generator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from animcli.cli.app import HELP_LAYOUT, app, fail, user_errors
from animcli.common.choices import SynthKind

data_app = typer.Typer(help="Training datasets.", no_args_is_help=True, **HELP_LAYOUT)
app.add_typer(data_app, name="data")


@data_app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="Dataset root to create (OUT/train, OUT/test)."),
    videos: int = typer.Option(..., "--videos", min=1, help="Number of videos (train + test)."),
    size: int = typer.Option(64, "--size", min=8, help="Frame size in pixels (square)."),
    frames: int = typer.Option(32, "--frames", min=2, help="Frames per video."),
    seed: int = typer.Option(0, "--seed", min=0, help="Dataset seed; the same seed gives the same videos."),
    test_fraction: float = typer.Option(0.1, "--test-fraction", min=0.0, max=0.9,
                                        help="Share of the videos that form the test split."),
    kind: Annotated[SynthKind, typer.Option(
        "--kind", help="shapes: one two-colour shape on black; textured: a whole textured scene that moves and "
                       "deforms (denser motion, e.g. for LIA).")] = "shapes",
    images: list[Path] = typer.Option(None, "--image", metavar="IMAGE",
                                      help="With --kind textured: scenes from these images instead of procedural "
                                           "ones (repeat the option)."),
) -> None:
    """Write synthetic videos as PNG strips (the Monkey-Net format): by default a two-colour shape that moves,
    turns and deforms over a dark background, one per video."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise fail(f"{out} exists and is not empty; choose a new directory")
    if images and kind != "textured":
        raise fail("--image applies to --kind textured")
    with user_errors():
        from animcli.data.synth import write_synth_dataset
        from animcli.media import read_image

        scenes = [read_image(path) for path in images or ()]
        num_train, num_test = write_synth_dataset(out, videos, size, frames, seed, test_fraction, kind,
                                                  scenes)
    typer.echo(f"wrote {num_train} train and {num_test} test videos ({frames} frames of {size}x{size}) to {out}",
               err=True)
