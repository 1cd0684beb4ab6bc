"""``animcli crop``: cut square, model-ready crops of faces (or any subject) out of images and videos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from animcli.cli.app import app, fail, user_errors
from animcli.cli.options import MaxPixelsOption, StrictOption


@app.command("crop")
def crop(
    input_path: str = typer.Argument(..., metavar="INPUT", help="An image, a video, a frame folder or '-'."),
    output: Path = typer.Option(None, "--output", "-o",
                                help="Output image or video. Several segments/faces are numbered "
                                     "OUT-000.ext, OUT-001.ext, …"),
    size: int = typer.Option(256, "--size", min=16, help="Side of the square output, in pixels."),
    increase: float = typer.Option(0.1, "--increase", min=0.0,
                                   help="Margin added on every side of the face tube (fraction)."),
    iou_with_initial: float = typer.Option(0.25, "--iou-with-initial",
                                           help="Start a new segment when the face's overlap with where "
                                                "it started drops below this."),
    min_frames: int = typer.Option(None, "--min-frames", min=1,
                                   help="Drop shorter segments (default: one second of video)."),
    detector: str = typer.Option("auto", "--detector",
                                 help="auto (dlib-hog if installed, else opencv), dlib-hog, dlib-mmod "
                                      "(slow, CNN), opencv."),
    face: str = typer.Option("largest", "--face", help="largest, all, or an index (0 = leftmost face)."),
    faces: str = typer.Option(None, "--faces", metavar="all|largest|N[,M…]|@X,Y",
                              help="Photos: one crop per chosen face (numbered from the left; @X,Y: the face at "
                                   "that pixel) as face-N.png, and faces.json (their boxes, for `animcli "
                                   "paste-back`), into the folder -o."),
    box: str = typer.Option(None, "--box",
                            help="x,y,w,h: crop this box instead of detecting faces (bodies, objects); "
                                 "auto: the region that moves in the video (static camera)."),
    every: int = typer.Option(1, "--every", min=1, help="Detect faces on every Nth frame only (faster)."),
    track: bool = typer.Option(False, "--track", help="Videos: the crop follows the face (smoothed over time, "
                                                      "constant size per segment) instead of one fixed box "
                                                      "per segment."),
    print_commands: bool = typer.Option(False, "--print-commands",
                                        help="Only print the ffmpeg commands that would cut the segments "
                                             "(the official crop-video.py behaviour)."),
    json_output: bool = typer.Option(False, "--json", help="Print the segments as JSON on stdout."),
    strict: StrictOption = False,
    max_pixels: MaxPixelsOption = None,
) -> None:
    """Crop faces to squares framed like the models' training data (VoxCeleb-style).

    Videos are cut into segments where the face stays inside one fixed crop (the official tube rule), or with
    --track where the face is followed; each segment is written as its own video, with its stretch of the audio.
    """
    if output is None and not print_commands:
        raise fail("missing --output/-o")
    if print_commands and track:
        raise fail("--print-commands cuts one fixed box per segment: it cannot express --track")
    if faces is not None and (face != "largest" or box or track or print_commands):
        raise fail("--faces chooses the faces itself and cuts photos only: drop --face, --box, --track and "
                   "--print-commands")
    if faces is not None:
        with user_errors():
            from animcli.crop import CropOptions, crop_faces, parse_faces

            result = crop_faces(input_path, output, parse_faces(faces),
                                CropOptions(size=size, increase=increase, detector=detector))
        for record in result.records:
            typer.echo(written_line(record, size, False), err=True)
        typer.echo(f"wrote {result.sidecar} (the boxes, for `animcli paste-back`)", err=True)
        if json_output:
            typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    with user_errors():
        from animcli.crop import CropOptions, parse_box, parse_face, run
        from animcli.media.readers import InputLimits

        options = CropOptions(size=size, increase=increase, iou_with_initial=iou_with_initial,
                              min_frames=min_frames, detector=detector, face=parse_face(face),
                              box=parse_box(box) if box else None, every=every, track=track)
        with InputLimits(strict, max_pixels).applied():
            result = run(input_path, output, options, print_commands=print_commands)
    if not print_commands:
        for record in result.records:
            typer.echo(written_line(record, size, result.from_video), err=True)
    if json_output:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    elif print_commands:
        typer.echo("\n".join(record["command"] for record in result.records))


def written_line(record: dict[str, Any], size: int, from_video: bool) -> str:
    """`wrote OUT (256x256, frames 0-220, from the 256x256 square at 0,0)`, alike for images and videos."""
    x, y, side, _ = record["box"]
    frames = f", frames {record['start_frame']}-{record['end_frame']}" if from_video else ""
    return f"wrote {record['output']} ({size}x{size}{frames}, from the {side}x{side} square at {x},{y})"
