"""Driving videos as streams of frames: video files (the ffmpeg bundled with imageio-ffmpeg), directories of
frames, and a video piped on stdin. Videos are never held in memory whole."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from animcli.common.errors import VideoError
from animcli.common.files import note_input
from animcli.common.interrupts import raise_if_stopped
from animcli.media.images import IMAGE_SUFFIXES, read_image, require_file
from animcli.media.probe import DEFAULT_FRAME_DIR_FPS, last_line, probe

VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".avi", ".mkv", ".gif", ".m4v")
STDIO = "-"


class VideoReader(ABC):
    """A driving video as a re-iterable stream of (H, W, 3) uint8 RGB frames; use it as a context manager.

    `path` is the file its audio can be taken from (None for frame directories).
    """

    fps: float
    size: tuple[int, int]
    frame_count: int | None
    has_audio: bool
    path: Path | None
    name: str

    def __iter__(self) -> Iterator[np.ndarray]:
        count = 0
        for frame in self._frames():
            raise_if_stopped()
            count += 1
            yield frame
        if count == 0:
            raise VideoError(f"{self.name}: the video has no frames")

    @abstractmethod
    def _frames(self) -> Iterator[np.ndarray]:
        """The decoded frames, in order."""

    def close(self) -> None:  # noqa: B027 - most readers hold nothing to release
        """Release temporary files (a spooled stdin)."""

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class FileVideoReader(VideoReader):
    def __init__(self, path: Path, spooled_from_stdin: bool = False) -> None:
        self.name = "stdin" if spooled_from_stdin else str(path)
        self.path = path
        self._spooled = spooled_from_stdin
        try:
            info = probe(path)
        except VideoError:
            self.close()
            raise
        if info.frame_count == 0:
            self.close()
            raise VideoError(f"{self.name}: the video has no frames")
        self.fps, self.size = info.fps, info.size
        self.frame_count, self.has_audio = info.frame_count, info.has_audio

    def _frames(self) -> Iterator[np.ndarray]:
        # passthrough: one output frame per decoded frame (ffmpeg would otherwise duplicate frames to pad
        # the video to the container's duration, e.g. when the audio track is longer).
        generator = imageio_ffmpeg.read_frames(str(self.path), input_params=["-nostdin"],
                                               output_params=["-fps_mode", "passthrough"])
        try:
            meta = next(generator)
            width, height = meta["size"]
            for buffer in generator:
                yield np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 3)
        except (OSError, RuntimeError) as exc:
            raise VideoError(f"{self.name}: corrupt or unreadable video ({last_line(str(exc))})") from None
        finally:
            generator.close()

    def close(self) -> None:
        if self._spooled and self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def frame_files(directory: Path) -> list[Path]:
    """The image files of a frame directory in natural name order (frame2 before frame10)."""
    files = sorted((p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                   key=lambda p: _natural_key(p.name))
    if not files:
        raise VideoError(f"{directory}: no frames ({', '.join(IMAGE_SUFFIXES)}) in this directory")
    return files


class FrameDirReader(VideoReader):
    def __init__(self, directory: Path, fps: float | None = None) -> None:
        self.name = str(directory)
        self.path = None
        self.has_audio = False
        self.fps = fps or DEFAULT_FRAME_DIR_FPS
        self._frame_paths = frame_files(directory)
        self.frame_count = len(self._frame_paths)
        height, width = read_image(self._frame_paths[0]).shape[:2]
        self.size = (width, height)

    def _frames(self) -> Iterator[np.ndarray]:
        for frame_path in self._frame_paths:
            frame = read_image(frame_path)
            if frame.shape[1::-1] != self.size:
                raise VideoError(f"{frame_path}: frame size {frame.shape[1::-1]} differs from {self.size}")
            yield frame


def open_video(spec: str | Path, fps: float | None = None) -> VideoReader:
    """Open a video file, a directory of frames (natural name order), or `-` (a video on stdin).

    `fps` sets the frame rate of a frame directory (default 25); video files keep their own.
    """
    if str(spec) == STDIO:
        return FileVideoReader(_spool_stdin(), spooled_from_stdin=True)
    path = Path(spec)
    note_input(path)
    if path.is_dir():
        return FrameDirReader(path, fps)
    require_file(path)
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        raise VideoError(f"{path}: is an image, expected a video or a directory of frames")
    if suffix not in VIDEO_SUFFIXES:
        raise VideoError(f"{path}: unsupported video type (expected one of {', '.join(VIDEO_SUFFIXES)})")
    return FileVideoReader(path)


def _spool_stdin() -> Path:
    """Copy stdin to a temporary file: ffmpeg needs to seek in mp4 input (its index may be at the end)."""
    if sys.stdin is None or sys.stdin.isatty():
        raise VideoError("expected a video piped on stdin for '-'")
    handle, name = tempfile.mkstemp(prefix="animcli-stdin-")
    with os.fdopen(handle, "wb") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
    path = Path(name)
    if path.stat().st_size == 0:
        path.unlink()
        raise VideoError("stdin: no video data received")
    return path


def _natural_key(name: str) -> list:
    """'frame2' before 'frame10'."""
    parts = re.split(r"(\d+)", name)
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in parts]
