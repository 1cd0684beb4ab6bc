"""What drives an animation: a video (trimmed, cropped around one of its faces) or a still photo, and the pose
relative motion is measured from.

A driving *photo* is a driving video of one frame without a clock: a still source gives one still result, and a
video source is driven by it in every frame. Its own pose is the only one it has, so relative transfer needs a
second photo to measure the change from (``--reference``); without one, a photo drives in absolute mode.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animcli.common.errors import AnimcliError
from animcli.crop.selection import FaceSelection
from animcli.media import IMAGE_SUFFIXES, STDIO, VideoReader, open_video, read_image
from animcli.media.trim import Trim, TrimmedVideo


class Reiterable:
    """Frames that can be iterated more than once (best-frame search reads the driving video twice)."""

    def __init__(self, make_iterator: Callable[[], Iterator[np.ndarray]]) -> None:
        self.make_iterator = make_iterator

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.make_iterator()


def is_photo(spec: str | Path | np.ndarray) -> bool:
    """Whether an input names a still image (by its suffix) or is one already read."""
    if isinstance(spec, np.ndarray):
        return True
    return str(spec) != STDIO and Path(spec).suffix.lower() in IMAGE_SUFFIXES


@dataclass
class Driving:
    """Driving frames, re-iterable; a photo is one frame with no frame rate."""

    frames: Iterable[np.ndarray]
    fps: float | None  # None: a photo
    total: int | None  # frames, when known
    name: str
    audio_path: Path | None = None
    audio_start: float = 0.0  # seconds into audio_path where the frames begin
    clocked: bool = False  # a video file (its frame rate is its own; a frame folder's is assumed)

    @property
    def photo(self) -> bool:
        return self.fps is None


@contextlib.contextmanager
def open_driving(spec: str | Path | np.ndarray, size: int, *, trim: Trim | None = None, crop: bool = False,
                 track: bool = False, face: FaceSelection | None = None) -> Iterator[Driving]:
    """The driving input of ``spec``: a photo, or a video (trimmed first, then with ``crop`` its longest face
    segment — ``face`` picks which face, the largest by default; ``track``: the crop follows it)."""
    if face is not None and not face.single:
        raise AnimcliError(f"{face.option} {face.text}: the driving face is one face (largest, N or @X,Y)")
    if is_photo(spec):
        if trim is not None:
            raise AnimcliError("--start, --end and --max-frames cut a driving video; the driving input is a photo")
        if track:
            raise AnimcliError("--track follows a face through a video; the driving input is a photo")
        image = spec if isinstance(spec, np.ndarray) else read_image(spec)
        name = "the driving photo" if isinstance(spec, np.ndarray) else str(spec)
        yield Driving([crop_face(image, size, face, name) if crop else image], None, 1, name)
        return
    with open_video(spec) as full:
        video: VideoReader = full
        audio_start = 0.0
        if trim is not None:
            video = TrimmedVideo(full, trim)
            audio_start = video.start_seconds
        frames: Iterable[np.ndarray] = video
        total = video.frame_count
        if crop:
            frames, segment_start, total = cropped_video(video, size, track, face)
            audio_start += segment_start
        yield Driving(frames, video.fps, total, video.name, video.path if video.has_audio else None, audio_start,
                      clocked=video.path is not None)


def cropped_video(video: VideoReader, size: int, track: bool, face: FaceSelection | None = None
                  ) -> tuple[Reiterable, float, int]:
    """The longest face segment of ``video``, cropped (``track``: following the face), where it starts in
    seconds, and its length."""
    from animcli.crop import CropOptions, find_segments, segment_frames

    # The longest segment is taken, however short: a driving clip of a few frames is still a driving clip.
    options = CropOptions(size=size, track=track, face="largest" if face is None else face, min_frames=1)
    segment = max(find_segments(video, options), key=lambda s: s.frame_count)
    frames = Reiterable(lambda: segment_frames(video, segment, size))
    return frames, segment.start / video.fps, segment.frame_count


def crop_face(image: np.ndarray, size: int, face: FaceSelection | None, name: str) -> np.ndarray:
    """The chosen face of a photo (the largest by default), cropped as ``crop`` crops it."""
    from animcli.crop import CropOptions, parse_faces, photo_faces

    [found] = photo_faces(image, face or parse_faces("largest"), CropOptions(size=size), name)
    return found.box.crop(image, size)


def reference_image(spec: str | Path | np.ndarray, size: int, crop: bool) -> np.ndarray:
    """``--reference``: the photo relative motion is measured from (its largest face, with ``crop``)."""
    image = spec if isinstance(spec, np.ndarray) else read_image(spec)
    return crop_face(image, size, None, "the reference photo" if isinstance(spec, np.ndarray) else str(spec)) \
        if crop else image


def looped(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """``frames`` over and over (``--loop-driving``; a driving photo under a video source)."""
    for _ in itertools.count():
        yield from frames
