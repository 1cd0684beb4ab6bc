"""Driving videos as streams of frames: video files (the ffmpeg bundled with imageio-ffmpeg), directories of
frames, and a video piped on stdin. Videos are never held in memory whole."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import imageio_ffmpeg
import numpy as np

from animcli.common.errors import OutOfSpaceError, VideoError
from animcli.common.files import note_input
from animcli.common.interrupts import raise_if_stopped
from animcli.media.images import (
    IMAGE_SUFFIXES,
    check_pixels,
    pixel_limit,
    pixel_limit_set,
    read_image,
    require_file,
    resize,
)
from animcli.media.probe import CHILD_PROCESS, DEFAULT_FRAME_DIR_FPS, damage_reason, error_lines, probe

#: errno values of a full disk, quota or file-size limit.
OUT_OF_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}

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


class DamagedVideoWarning(UserWarning):
    """A video that decoded with errors or fewer frames than it holds (corrupt bytes, a cut file)."""


_strict = False


@contextlib.contextmanager
def strict_decoding(strict: bool = True) -> Iterator[None]:
    """Inside the block, videos opened with decode errors or missing frames are refused (``VideoError``) instead
    of read with a :class:`DamagedVideoWarning` (``--strict``). Readers take the setting when they are opened."""
    global _strict
    previous, _strict = _strict, strict
    try:
        yield
    finally:
        _strict = previous


@dataclass(frozen=True)
class InputLimits:
    """The input checks in force (``--strict``, ``--max-pixels``), as a value that travels to worker processes,
    where the module settings of the parent do not reach."""

    strict: bool = False
    max_pixels: int | None = None

    @classmethod
    def current(cls) -> InputLimits:
        return cls(_strict, pixel_limit_set())

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        with strict_decoding(self.strict), pixel_limit(self.max_pixels):
            yield


class FileVideoReader(VideoReader):
    """A video file decoded by ffmpeg; its damage (what ffmpeg reports, frames it cannot decode) is reported
    once the stream has been read to its end: a warning with the count, or an error under ``strict_decoding``."""

    def __init__(self, path: Path, spooled_from_stdin: bool = False) -> None:
        self.name = "stdin" if spooled_from_stdin else str(path)
        self.path = path
        self._spooled = spooled_from_stdin
        self.strict = _strict
        try:
            info = probe(path)
        except VideoError:
            self.close()
            raise
        if info.frame_count == 0:
            self.close()
            raise VideoError(f"{self.name}: the video has no frames")
        try:
            check_pixels(*info.size, self.name)
        except VideoError:
            self.close()
            raise
        self.fps, self.size = info.fps, info.size
        self.frame_count, self.has_audio = info.frame_count, info.has_audio
        self.info = info
        if info.damage is not None and self.strict:  # known before decoding anything: refuse now
            self.close()
            raise VideoError(f"{self.name}: damaged video ({info.damage}); drop --strict to use the frames "
                             "that can be decoded")

    def _frames(self) -> Iterator[np.ndarray]:
        width, height = self.size
        frame_bytes = width * height * 3
        # passthrough: one output frame per decoded frame (ffmpeg would otherwise duplicate frames to pad
        # the video to the container's duration, e.g. when the audio track is longer).
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(self.path),
                   "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-fps_mode", "passthrough", "pipe:1"]
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                       **CHILD_PROCESS)
            decoded = 0
            try:
                while len(buffer := _read_exactly(process.stdout, frame_bytes)) == frame_bytes:
                    decoded += 1
                    yield np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 3)
                process.wait()
            finally:
                if process.poll() is None:  # the reader stopped early (a trimmed clip, an error, a signal)
                    process.kill()
                    process.wait()
                process.stdout.close()
            log.seek(0)
            errors = error_lines(log.read().decode(errors="replace"))
        if process.returncode != 0 and decoded == 0:
            raise VideoError(f"{self.name}: corrupt or unreadable video ({errors[-1] if errors else 'no details'})")
        self._report_damage(decoded, errors)

    def _report_damage(self, decoded: int, errors: list[str]) -> None:
        """Warn (or, strict, refuse) when ffmpeg reported errors: frames the decoder dropped or concealed. A
        shorter decode without any error (an edit list that hides frames) is how the file is meant to play."""
        if not errors and self.info.damage is None:
            return
        reason = self.info.damage or damage_reason(errors)
        expected = self.frame_count or 0
        if reason == "truncated" and self.info.announced_frames:
            expected = max(expected, self.info.announced_frames)
        counted = (f"{expected - decoded} of {expected} frames could not be decoded" if decoded < expected
                   else "some frames may be damaged")
        message = f"{self.name}: damaged video ({reason}): {counted}"
        if self.strict:
            raise VideoError(message)
        warnings.warn(f"{message}; --strict refuses such videos", DamagedVideoWarning, stacklevel=2)

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
            # A stray frame of another size is resized to the first one's, as every frame is resized for the model.
            yield frame if frame.shape[1::-1] == self.size else resize(frame, *self.size)


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


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    """``size`` bytes, or fewer at the end of the stream."""
    buffer = stream.read(size)
    while buffer and len(buffer) < size and (more := stream.read(size - len(buffer))):
        buffer += more
    return buffer


def _spool_stdin() -> Path:
    """Copy stdin to a temporary file: ffmpeg needs to seek in mp4 input (its index may be at the end). The file
    is removed if the copy fails or is interrupted (a full disk, Ctrl-C, SIGTERM)."""
    if sys.stdin is None or sys.stdin.isatty():
        raise VideoError("expected a video piped on stdin for '-'")
    path: Path | None = None
    try:
        handle, name = tempfile.mkstemp(prefix="animcli-stdin-")
        path = Path(name)
        with os.fdopen(handle, "wb") as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
        if path.stat().st_size == 0:
            raise VideoError("stdin: no video data received")
    except BaseException as exc:
        if path is not None:
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in OUT_OF_SPACE_ERRNOS:
            raise OutOfSpaceError(f"cannot keep the video read from stdin in {tempfile.gettempdir()}: "
                                  f"{os.strerror(exc.errno).lower()}") from None
        raise
    return path


def _natural_key(name: str) -> list:
    """'frame2' before 'frame10'."""
    parts = re.split(r"(\d+)", name)
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in parts]
