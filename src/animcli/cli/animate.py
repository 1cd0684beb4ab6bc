"""``animcli animate SOURCE DRIVING -o OUT``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from animcli.cli.app import app, fail, user_errors
from animcli.cli.options import (
    AdaptScaleOption,
    BackendOption,
    BatchSizeOption,
    BlendOption,
    CheckpointOption,
    CompileOption,
    ConfigOption,
    DeviceOption,
    EditOption,
    Fp16Option,
    MaxPixelsOption,
    ModelOption,
    ModeOption,
    NormalizeOption,
    OutputSizeOption,
    OverwriteOption,
    PasteBackOption,
    PrecisionOption,
    QuietOption,
    SizeOption,
    SmoothOption,
    SmoothStrengthOption,
    StrictOption,
    ThreadsOption,
    chosen_precision,
)
from animcli.cli.progress import frame_progress
from animcli.common.choices import AudioSource
from animcli.workflows.request import DEFAULT_MODEL

if TYPE_CHECKING:
    from animcli.workflows.output import AnimationResult

def default_output(source: Path, driving: str = "") -> Path:
    """SOURCE-animated.mp4, or .png when a photo drives a photo."""
    from animcli.media.images import IMAGE_SUFFIXES

    still = Path(driving).suffix.lower() in IMAGE_SUFFIXES and source.suffix.lower() in IMAGE_SUFFIXES
    return Path(f"{source.stem}-animated.{'png' if still else 'mp4'}")


@app.command()
def animate(
    source: Path = typer.Argument(..., help="Source image (png/jpg/webp/bmp; any size, resized to the model's), "
                                            "or a source video / folder of frames (each frame animated by the "
                                            "driving frame at the same instant)."),
    driving: str = typer.Argument(..., help="Driving video (mp4/mov/webm/avi/gif), a folder of frames, "
                                            "- for stdin, or a photo (one still result)."),
    output: str = typer.Option(None, "--output", "-o",
                               help="Result: .mp4/.webm/.gif/.mov/.mkv, a folder (PNG frames) or - for stdout; "
                                    "an image file when a photo drives a photo. Default: SOURCE-animated.mp4 "
                                    "(.png for a photo result; never overwritten)."),
    model: ModelOption = None,
    checkpoint: CheckpointOption = None,
    config: ConfigOption = None,
    mode: ModeOption = None,
    adapt_scale: AdaptScaleOption = None,
    find_best_frame: bool = typer.Option(False, "--find-best-frame",
                                         help="Measure relative motion from the driving frame whose pose is "
                                              "closest to the source's."),
    best_frame: Annotated[int | None, typer.Option(
        "--best-frame", min=0, metavar="N", help="Measure relative motion from driving frame N (0 = first; "
                                                 "counted after --start), as the official demo's --best_frame.")
    ] = None,
    start: Annotated[str | None, typer.Option(
        "--start", metavar="TIME", help="Use the driving video from TIME on (seconds, or [H:]MM:SS[.ms]).")] = None,
    end: Annotated[str | None, typer.Option("--end", metavar="TIME", help="Use the driving video up to TIME.")] = None,
    max_frames: Annotated[int | None, typer.Option(
        "--max-frames", min=1, metavar="N", help="Use at most N driving frames.")] = None,
    output_size: OutputSizeOption = None,
    device: DeviceOption = "auto",
    precision: PrecisionOption = None,
    fp16: Fp16Option = None,
    batch_size: BatchSizeOption = None,
    backend: BackendOption = "auto",
    threads: ThreadsOption = None,
    compile: CompileOption = False,
    size: SizeOption = None,
    fps: float = typer.Option(None, "--fps", min=0.001, help="Output frame rate (default: the driving video's)."),
    audio: Annotated[AudioSource | None, typer.Option(
        "--audio", metavar="source|driving", help="Whose sound to keep: the source video's (the default for a "
                                                  "source video) or the driving video's (the default for a "
                                                  "photo).")] = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Write no sound.")] = False,
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Write source | driving | result."),
    show_keypoints: bool = typer.Option(False, "--show-keypoints",
                                        help="Draw the keypoints: the driving ones on the driving frames, the "
                                             "transferred ones on the result, and with --side-by-side the "
                                             "source's own on the source (families with keypoints only)."),
    crop: bool = typer.Option(False, "--crop", help="Cut the face out of the source and the driving video first "
                                                    "(see `animcli crop`)."),
    track: bool = typer.Option(False, "--track", help="With --crop: the driving crop follows the face (see "
                                                      "`animcli crop --track`)."),
    paste_back: PasteBackOption = False,
    faces: Annotated[str | None, typer.Option(
        "--faces", metavar="all|largest|N[,M…]|@X,Y",
        help="Animate every chosen face of a source photo with the same driving motion and paste them all back "
             "(implies --crop --paste-back): all, the largest, face numbers counted from the left (0 = "
             "leftmost), or @X,Y: the face at that pixel.")] = None,
    driving_face: Annotated[str | None, typer.Option(
        "--driving-face", metavar="largest|N|@X,Y",
        help="With --crop/--faces: the face of the driving input whose motion is used (default: the "
             "largest).")] = None,
    blend: BlendOption = "feather",
    loop_driving: Annotated[bool, typer.Option(
        "--loop-driving", help="Source video: repeat the driving video until the source ends (default: stop "
                               "at the shorter).")] = False,
    reference: Annotated[Path | None, typer.Option(
        "--reference", metavar="IMAGE", help="Measure relative motion from this photo's pose instead of the "
                                             "first driving frame's (how a driving photo drives in relative "
                                             "mode).")] = None,
    normalize: NormalizeOption = "frame",
    smooth: SmoothOption = False,
    smooth_strength: SmoothStrengthOption = None,
    lia_demo_normalization: Annotated[bool, typer.Option(
        "--lia-demo-normalization", hidden=True, help="Old name of --normalize clip.")] = False,
    edit: EditOption = None,
    overwrite: OverwriteOption = False,
    strict: StrictOption = False,
    max_pixels: MaxPixelsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Animate SOURCE with the motion of DRIVING (by default with the bundled demo model)."""
    if output is None:
        output = str(default_output(source, driving))
        if Path(output).exists():
            raise fail(f"{output} already exists; choose the output with -o")
    with user_errors():
        from animcli.workflows.request import AnimateRequest, run_animation

        request = AnimateRequest(
            source=source, driving=driving, output=output, model=model, checkpoint=checkpoint, config=config,
            mode=mode, adapt_scale=adapt_scale, find_best_frame=find_best_frame, best_frame=best_frame,
            start=start, end=end, max_frames=max_frames, output_size=output_size, device=device,
            precision=chosen_precision(precision, fp16),
            batch_size=batch_size, backend=backend, threads=threads, compile=compile, size=size, fps=fps,
            audio=False if no_audio else (audio or True), side_by_side=side_by_side,
            show_keypoints=show_keypoints, crop=crop, track=track,
            paste_back=paste_back, normalize="clip" if lia_demo_normalization else normalize, smooth=smooth,
            smooth_strength=smooth_strength, edit=tuple(edit or ()), overwrite=overwrite, strict=strict,
            max_pixels=max_pixels, faces=faces,
            driving_face=driving_face, blend=blend, loop_driving=loop_driving, reference=reference)
        if model is None and checkpoint is None and not quiet:
            typer.echo(f"no --model given: using the bundled '{DEFAULT_MODEL}' model (trained on synthetic shapes; "
                       "for faces use e.g. --model fomm-vox)", err=True)
        with frame_progress(quiet, "animating") as on_progress:
            result = run_animation(request, on_progress=on_progress)
    if not quiet:
        if result.audio_dropped:
            typer.echo(f"animcli: note: the audio is not kept ({result.audio_dropped})", err=True)
        hint = f" · {result.precision_hint}" if result.precision_hint else ""
        typer.echo(f"wrote {describe_result(result)} to {output}{hint}", err=True)


def describe_result(result: AnimationResult) -> str:
    """`48 frames of 192x64 at 12 fps (relative to driving frame 3, chosen by …)`, `a 640x360 image, 3 faces`."""
    width, height = result.frame_size or (0, 0)
    if result.best_frames is not None:
        frames = ", ".join(map(str, result.best_frames))
        best = f" (relative to driving frames {frames}, one per face, chosen by {result.best_frame_by})"
    elif result.best_frame is not None:
        best = f" (relative to driving frame {result.best_frame}, chosen by {result.best_frame_by})"
    elif result.best_frame_by == "--reference":
        best = " (relative to --reference)"
    else:
        best = ""
    faces = f", {result.faces} faces" if result.faces > 1 else ""
    if result.fps is None:
        return f"a {width}x{height} image{faces}{best}"
    return f"{result.frames} frames of {width}x{height} at {result.fps:g} fps{faces}{best}"
