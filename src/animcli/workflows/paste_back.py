"""``animcli paste-back``: animated face crops back into the photo ``crop --faces`` cut them from.

The sidecar (``faces.json``) says where each crop came from; each animated crop (a video, a folder of frames or
a still) is resized to its square and blended in (``crop.paste_back``), frame by frame, streaming. Faces given no
animated crop stay as they are in the photo. Videos are played together: the result is as long as the shortest
and has their frame rate (they must share one); stills hold for the whole result, and stills alone give a
still.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animcli.common.choices import Blend
from animcli.common.errors import AnimcliError
from animcli.common.files import sha256_of_file
from animcli.crop.paste_back import FacePaster
from animcli.crop.sidecar import FacesSidecar, SidecarError, read_sidecar
from animcli.media import DEFAULT_FRAME_DIR_FPS, VideoReader, open_video, open_writer, read_image, write_image
from animcli.workflows.driving import is_photo


@dataclass(frozen=True)
class PasteBackResult:
    frames: int
    fps: float | None  # None: a still was written
    frame_size: tuple[int, int] | None
    faces: tuple[int, ...]  # the faces pasted back


def assign_crops(sidecar: FacesSidecar, specs: Sequence[str]) -> dict[int, str]:
    """Face number → animated crop: ``N=PATH`` names the face; a plain ``PATH`` takes the next face of the sidecar
    (in its order) that no ``N=`` names."""
    assigned: dict[int, str] = {}
    plain: list[str] = []
    for spec in specs:
        number, separator, path = spec.partition("=")
        if separator and number.strip().isdigit() and path:
            face = sidecar.face(int(number)).number
            if face in assigned:
                raise AnimcliError(f"face {face} is given two animated crops ({assigned[face]} and {path})")
            assigned[face] = path
        else:
            plain.append(spec)
    free = [face.number for face in sidecar.faces if face.number not in assigned]
    if len(plain) > len(free):
        raise AnimcliError(f"{len(plain) + len(assigned)} animated crops for the sidecar's {len(sidecar.faces)} "
                           "faces")
    assigned.update(zip(free, plain, strict=False))
    if not assigned:
        raise AnimcliError("no animated crop given (PATH, or N=PATH for face N)")
    return dict(sorted(assigned.items()))


def paste_back_files(sidecar_path: str | Path, animated: Sequence[str], output: str | Path, *,
                     original: str | Path | None = None, blend: Blend = "feather", fps: float | None = None,
                     audio: bool = True, overwrite: bool = False,
                     on_progress: Callable[[int, int | None], None] | None = None) -> PasteBackResult:
    """Paste the ``animated`` crops (``PATH`` or ``N=PATH``, see ``assign_crops``) into the original photo of the
    sidecar at ``sidecar_path`` (a faces.json or its folder) and write ``output`` atomically. ``original``
    replaces the photo the sidecar names (it must have the same size); ``audio`` keeps the first animated video's
    sound."""
    sidecar_path = Path(sidecar_path)
    sidecar = read_sidecar(sidecar_path)
    if sidecar_path.is_dir():
        sidecar_path = sidecar_path / "faces.json"
    photo = _original(sidecar, sidecar_path, original)
    crops = assign_crops(sidecar, animated)
    faces = [sidecar.face(number) for number in crops]
    paster = FacePaster(photo.shape, [face.crop_box for face in faces], [face.head_box for face in faces],
                        blend=blend)
    with contextlib.ExitStack() as stack:
        inputs = [_open_crop(stack, path) for path in crops.values()]
        videos = [item for item in inputs if isinstance(item, VideoReader)]
        if not videos:
            pasted = paster.paste(photo, list(inputs))
            return _write_still(pasted, output, fps, overwrite, tuple(crops))
        if is_photo(output):
            raise AnimcliError(f"{output}: animated videos give a video; write .mp4, .webm, .gif, .mov, .mkv or a "
                               "folder")
        rates = {round(video.fps, 6) for video in videos if video.path is not None}
        if len(rates) > 1:
            raise AnimcliError("the animated videos have different frame rates ("
                               + ", ".join(f"{video.name}: {video.fps:g} fps" for video in videos)
                               + "); they are played frame by frame together")
        output_fps = fps or videos[0].fps
        counts = [video.frame_count for video in videos]
        total = None if any(count is None for count in counts) else min(counts)
        audio_from = next((video.path for video in videos if video.has_audio), None) if audio else None
        done = 0
        with open_writer(output, output_fps, audio_from=audio_from, overwrite=overwrite) as writer:
            for frames in _together(inputs):
                writer.write(paster.paste(photo, frames))
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
    return PasteBackResult(done, output_fps, writer.frame_size, tuple(crops))


def _original(sidecar: FacesSidecar, sidecar_path: Path, original: str | Path | None) -> np.ndarray:
    path = Path(original) if original is not None else sidecar.original_path(sidecar_path)
    if original is None and not path.is_file():
        raise SidecarError(f"{sidecar_path}: its photo {path} is gone; give it with --original")
    photo = read_image(path)
    if (photo.shape[1], photo.shape[0]) != (sidecar.width, sidecar.height):
        raise SidecarError(f"{path} is {photo.shape[1]}x{photo.shape[0]}, but the faces were cut from a "
                           f"{sidecar.width}x{sidecar.height} photo")
    if original is None and sha256_of_file(path) != sidecar.sha256:
        raise SidecarError(f"{path} has changed since its faces were cut; give --original {path} to paste into it "
                           "anyway")
    return photo


def _open_crop(stack: contextlib.ExitStack, path: str) -> np.ndarray | VideoReader:
    if is_photo(path):
        crop = read_image(path)
    else:
        crop = stack.enter_context(open_video(path))
    width, height = (crop.shape[1], crop.shape[0]) if isinstance(crop, np.ndarray) else crop.size
    if width != height:
        raise AnimcliError(f"{path}: {width}x{height} is not square; an animated crop is the square it was cut as")
    return crop


def _together(inputs: list[np.ndarray | VideoReader]) -> Iterator[list[np.ndarray]]:
    """One frame of every input at a time (stills repeat), until the shortest video ends."""
    streams = [itertools.repeat(item) if isinstance(item, np.ndarray) else iter(item) for item in inputs]
    for frames in zip(*streams, strict=False):
        yield list(frames)


def _write_still(pasted: np.ndarray, output: str | Path, fps: float | None, overwrite: bool,
                 faces: tuple[int, ...]) -> PasteBackResult:
    size = (pasted.shape[1], pasted.shape[0])
    if is_photo(output):
        write_image(output, pasted)
        return PasteBackResult(1, None, size, faces)
    output_fps = fps or DEFAULT_FRAME_DIR_FPS
    with open_writer(output, output_fps, overwrite=overwrite) as writer:
        writer.write(pasted)
    return PasteBackResult(1, output_fps, size, faces)
