"""``animcli live SOURCE [--camera 0|/dev/videoN|URL|FILE] [-o virtual|window|FILE|-]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from animcli.cli.animate import DEFAULT_MODEL
from animcli.cli.app import app, fail, user_errors
from animcli.cli.options import (
    AdaptScaleOption,
    BackendOption,
    CheckpointOption,
    ConfigOption,
    DeviceOption,
    Fp16Option,
    ModelOption,
    ModeOption,
    PasteBackOption,
    PrecisionOption,
    SizeOption,
    SmoothOption,
    SmoothStrengthOption,
    ThreadsOption,
    chosen_precision,
)


@app.command()
def live(
    source: Path = typer.Argument(..., help="Source image to animate (any size, resized to the model's)."),
    camera: str = typer.Option("0", "--camera", "-c",
                               help="Camera index, /dev/videoN, a stream URL, or a video file (played at its own "
                                    "frame rate, as a camera would deliver it)."),
    output: str = typer.Option("auto", "--output", "-o",
                               help="auto: a window where one can open, else a new live.mp4; virtual (a virtual "
                                    "camera, needs the 'virtual' extra), window, a video file or folder, or - (an "
                                    "mp4 stream on stdout)."),
    model: ModelOption = None,
    checkpoint: CheckpointOption = None,
    config: ConfigOption = None,
    mode: ModeOption = None,
    adapt_scale: AdaptScaleOption = None,
    find_best_frame: bool = typer.Option(False, "--find-best-frame",
                                         help="Keep re-anchoring relative motion on the camera frame closest to the "
                                              "source's pose (default: the first frame; SIGUSR1 or r/space in the "
                                              "window re-captures it)."),
    smooth: SmoothOption = False,
    smooth_strength: SmoothStrengthOption = None,
    device: DeviceOption = "auto",
    precision: PrecisionOption = None,
    fp16: Fp16Option = None,
    backend: BackendOption = "auto",
    threads: ThreadsOption = None,
    size: SizeOption = None,
    crop: bool = typer.Option(False, "--crop", help="Cut the face out of the source and every camera frame."),
    paste_back: PasteBackOption = False,
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Show the camera next to the result."),
    max_frames: int = typer.Option(None, "--max-frames", min=1, help="Stop after animating N frames."),
    max_seconds: float = typer.Option(None, "--max-seconds", min=0.001, help="Stop after S seconds."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout at the end (frames, "
                                                           "dropped, latency_ms_p50/p95, fps, backend, precision)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No status line."),
) -> None:
    """Animate SOURCE live with a camera: always the newest frame (frames the model cannot keep up with are
    dropped, never queued), decode, compute and output running concurrently. Ctrl-C stops and finalises."""
    if model is not None and checkpoint is not None:
        raise fail("give either --model or --checkpoint, not both")
    if json_output and output == "-":
        raise fail("--json and -o - both write to stdout: choose one")
    with user_errors():
        from animcli.inference.smoothing import Smoothing
        from animcli.media import read_image
        from animcli.models.base import TransferOptions
        from animcli.weights.loading import load_model
        from animcli.workflows.live import LiveOptions, LiveSession, live_animator, open_camera, open_sink
        from animcli.workflows.live.sinks import AUTO, default_output

        # Live input has no future frames to look at: smoothing is causal (One-Euro).
        smoothing = Smoothing.from_options(smooth, smooth_strength, causal=True)
        options = LiveOptions(find_best_frame=find_best_frame, crop=crop, paste_back=paste_back,
                              side_by_side=side_by_side, smoothing=smoothing, max_frames=max_frames,
                              max_seconds=max_seconds)
        source_image = read_image(source)
        animation_model = load_model(checkpoint, config, model=model or (None if checkpoint else DEFAULT_MODEL),
                                     device=device)
        transfer = TransferOptions(mode=mode or animation_model.default_mode, adapt_scale=adapt_scale)
        animator = live_animator(animation_model, transfer, precision=chosen_precision(precision, fp16), size=size,
                                 backend=backend, threads=threads)
        frames = open_camera(camera)
        session = LiveSession(animator, source_image, frames, options)
        output = default_output() if output == AUTO else output
        sink = open_sink(output, *session.output_size(), frames.fps)
        if not quiet:
            typer.echo(f"live: {frames.name} at {frames.fps:g} fps → {output} (Ctrl-C stops)", err=True)
        stats = session.run(sink, on_status=None if quiet else _print_status)
    if not quiet:
        _print_status(stats, final=True, hint=animator.precision_hint())
    if json_output:
        typer.echo(json.dumps(stats.as_dict()))


def _print_status(stats, final: bool = False, hint: str | None = None) -> None:  # noqa: ANN001 - LiveStats
    """The status line on stderr: rewritten in place on a terminal, one line per update otherwise."""
    line = stats.status_line() + (f" · {stats.frames} frames, stopped by {stats.stopped_by}" if final else "")
    line += f" · {hint}" if hint else ""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + line + ("\n" if final else ""))
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()
