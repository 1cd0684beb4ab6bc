"""Motion editing: move a source's head, mouth or eyes along a model's named motion directions.

``edit_files`` is what ``animcli edit`` runs. A still image gives the edited image (the official ``img_edit``);
a video is re-rendered from its first frame with the edit applied to every frame (``vid_edit``); ``sweep``
gives a video of the still swinging along directions and back (the official manipulation video). Edits are
offsets added to the source's motion code (``TransferOptions.edits``); families without named directions
reject them through the interface.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from animcli.common.choices import Normalization, Precision
from animcli.common.errors import AnimcliError
from animcli.inference.animator import AnimatedBatch, Animator
from animcli.media import IMAGE_SUFFIXES, STDIO, open_video, open_writer, read_image, resize_square, write_image
from animcli.media.visualize import side_by_side
from animcli.models.base import AnimationModel, TransferOptions
from animcli.workflows.animate_files import animate_files
from animcli.workflows.output import OutputStyle, compose_frames, stretch_clip_uint8, upscale_square

Edits = tuple[tuple[int, float], ...]


class EditError(AnimcliError):
    """An ``--edit`` / ``--sweep`` value that cannot be used."""


@dataclass(frozen=True)
class EditResult:
    kind: str  # "image", "video" or "sweep"
    frames: int
    fps: float | None  # None for an image
    frame_size: tuple[int, int] | None = None  # (width, height) of what was written
    precision_hint: str | None = None  # how much faster --precision bf16 would be here (a fp32 run on a bf16 CPU)


def split_assignment(spec: str) -> tuple[str, str | None]:
    """``NAME=VALUE`` → (NAME, VALUE); ``NAME`` → (NAME, None)."""
    name, separator, value = spec.partition("=")
    if not name.strip():
        raise EditError(f"{spec!r}: expected DIRECTION=VALUE (a direction number or name, e.g. yaw=-0.3)")
    return name.strip(), (value.strip() if separator else None)


def offset_value(spec: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise EditError(f"{spec!r}: {value!r} is not a number") from None


def parse_edits(model: AnimationModel, specs: Sequence[str]) -> Edits:
    """``DIRECTION=VALUE`` strings as (direction index, offset) pairs; a direction given twice keeps its last
    value (the official indexed assignment does the same)."""
    edits: dict[int, float] = {}
    for spec in specs:
        name, value = split_assignment(spec)
        if value is None:
            raise EditError(f"{spec!r}: expected DIRECTION=VALUE (e.g. yaw=-0.3)")
        edits[model.motion_direction(name)] = offset_value(spec, value)
    return tuple(edits.items())


def parse_sweep(model: AnimationModel, specs: Sequence[str], edits: Edits) -> tuple[Edits, Edits]:
    """(swept directions with their amplitudes, the edits that stay constant). ``DIRECTION`` alone takes its
    amplitude from the ``--edit`` of that direction."""
    constant = dict(edits)
    swept: dict[int, float] = {}
    for spec in specs:
        name, value = split_assignment(spec)
        index = model.motion_direction(name)
        if value is None and index not in constant:
            raise EditError(f"--sweep {spec}: give its amplitude, as --sweep {name}=VALUE or --edit {name}=VALUE")
        swept[index] = offset_value(spec, value) if value is not None else constant[index]
        constant.pop(index, None)
    return tuple(swept.items()), tuple(constant.items())


def is_video(source: str | Path) -> bool:
    """A video file, a folder of frames or stdin, rather than a still image."""
    return str(source) == STDIO or Path(source).suffix.lower() not in IMAGE_SUFFIXES


def first_frame(source: str | Path) -> np.ndarray:
    with open_video(source) as video:
        for frame in video:
            return frame
    raise EditError(f"{source}: the video has no frames")


def uint8_frames(batches: list[AnimatedBatch], normalize: Normalization) -> list[np.ndarray]:
    """Each batch's results as uint8: clamped per frame, or (``clip``) stretched by the min/max of them all."""
    if normalize != "clip":
        return [batch.prediction_uint8 for batch in batches]
    stretched = stretch_clip_uint8(np.concatenate([batch.prediction for batch in batches]))
    return np.split(stretched, np.cumsum([len(batch.prediction) for batch in batches])[:-1])


def edit_files(model: AnimationModel, source: str | Path, output: str | Path, edits: Sequence[str], *,
               sweep: Sequence[str] = (), normalize: Normalization = "frame", batch_size: int | None = None,
               precision: Precision = "auto", fps: float | None = None, audio: bool = True,
               style: OutputStyle = OutputStyle(), overwrite: bool = False,
               on_progress: Callable[[int, int | None], None] | None = None) -> EditResult:
    """Edit ``source`` (image or video) and write ``output`` atomically (see the module docstring).

    ``normalize``: ``frame`` clamps each frame to the valid range (frames stream); ``clip`` stretches the whole
    result by its global min/max, as the official writers do.
    """
    model.check_normalization(normalize)
    constant = parse_edits(model, edits)
    swept, constant = parse_sweep(model, sweep, constant)
    if not constant and not swept:
        raise EditError("nothing to edit: give --edit DIRECTION=VALUE or --sweep DIRECTION")
    animator = Animator(model, TransferOptions(mode="relative", edits=constant), batch_size=batch_size,
                        precision=precision)
    hint = animator.precision_hint()
    if is_video(source):
        if swept:
            raise EditError("--sweep animates a still image; SOURCE is a video")
        if str(source) == STDIO:
            raise EditError("a video edit reads SOURCE twice (its first frame, then every frame): give a file")
        result = animate_files(animator, first_frame(source), source, output, fps=fps, audio=audio, style=style,
                               normalize=normalize, overwrite=overwrite, on_progress=on_progress)
        return EditResult("video", result.frames, result.fps, result.frame_size, hint)
    image = read_image(source)
    if swept:
        return replace(_write_sweep(animator, image, swept, constant, output, normalize, fps, style, overwrite,
                                    on_progress), precision_hint=hint)
    if Path(output).suffix.lower() not in IMAGE_SUFFIXES:
        raise EditError(f"{output}: an edited image is written as {', '.join(IMAGE_SUFFIXES)}")
    batches = list(animator.render_source(image, [animator.options]))
    edited = uint8_frames(batches, normalize)[0][0]
    if style.output_size is not None:
        edited = upscale_square(edited, style.output_size)
    # An edited still has no driving video: side by side is source | edit (the official img_all.png).
    written = side_by_side(resize_square(image, len(edited)), edited) if style.side_by_side else edited
    write_image(output, written)
    return EditResult("image", 1, None, (written.shape[1], written.shape[0]), hint)


def _write_sweep(animator: Animator, image: np.ndarray, swept: Edits, constant: Edits, output: str | Path,
                 normalize: Normalization, fps: float | None, style: OutputStyle, overwrite: bool,
                 on_progress: Callable[[int, int | None], None] | None) -> EditResult:
    frame_edits, sweep_fps = animator.model.sweep(swept)
    variants = [TransferOptions(mode="relative", edits=constant + offsets) for offsets in frame_edits]
    batches = list(_with_progress(animator.render_source(image, variants), len(variants), on_progress))
    source_column = resize_square(image, style.output_size or animator.size)
    output_fps = fps or sweep_fps
    with open_writer(output, output_fps, overwrite=overwrite) as writer:
        for batch, frames in zip(batches, uint8_frames(batches, normalize), strict=True):
            composed = compose_frames(batch, frames, source_column, style)
            writer.write_many(composed)
    return EditResult("sweep", len(variants), output_fps, (composed[-1].shape[1], composed[-1].shape[0]))


def _with_progress(batches: Iterator[AnimatedBatch], total: int,
                   on_progress: Callable[[int, int | None], None] | None) -> Iterator[AnimatedBatch]:
    done = 0
    for batch in batches:
        done += len(batch.prediction)
        if on_progress is not None:
            on_progress(done, total)
        yield batch
