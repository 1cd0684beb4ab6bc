"""Writing videos: H.264/VP9/GIF files and fragmented mp4 on stdout (the ffmpeg bundled with imageio-ffmpeg),
or directories of numbered PNG frames, optionally with the driving video's audio.

Outputs are written to a hidden temporary beside the target and renamed over it only when the write
completed, so a failed or interrupted run never leaves a half-written or clobbered file.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import cv2
import imageio_ffmpeg
import numpy as np

from animcli.common.errors import OutOfSpaceError, OutputClosed, OutputError, VideoError
from animcli.common.files import check_output, make_parent, remove_created, temporary_sibling
from animcli.common.interrupts import raise_if_stopped
from animcli.media.images import check_frame
from animcli.media.probe import CHILD_PROCESS, has_audio, last_line
from animcli.media.readers import STDIO

FRAME_NAME = "{index:06d}.png"


@dataclass(frozen=True)
class _Container:
    ffmpeg_format: str
    video_args: tuple[str, ...]
    muxer_args: tuple[str, ...]
    audio_codec: str | None  # None: the container gets no audio
    even_size: bool  # yuv420p needs even dimensions


_H264 = ("-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p")
_VP9 = ("-c:v", "libvpx-vp9", "-crf", "30", "-b:v", "0", "-deadline", "good", "-cpu-used", "4",
        "-row-mt", "1", "-pix_fmt", "yuv420p")
# One palette for the whole clip (stats over all frames) gives far less banding than the default web palette.
_GIF = ("-vf", "split[frames][for_palette];[for_palette]palettegen=stats_mode=diff[palette];"
        "[frames][palette]paletteuse=dither=bayer:bayer_scale=3")
CONTAINERS = {
    ".mp4": _Container("mp4", _H264, ("-movflags", "+faststart"), "aac", True),
    ".m4v": _Container("mp4", _H264, ("-movflags", "+faststart"), "aac", True),
    ".mov": _Container("mov", _H264, (), "aac", True),
    ".mkv": _Container("matroska", _H264, (), "aac", True),
    ".webm": _Container("webm", _VP9, (), "libopus", True),
    ".gif": _Container("gif", _GIF, (), None, False),
}
# A non-seekable stream: fragmented mp4 writes its index up front instead of at the end.
_STDOUT_CONTAINER = _Container("mp4", _H264, ("-movflags", "frag_keyframe+empty_moov"), "aac", True)


class VideoWriter(ABC):
    """Accepts (H, W, 3) uint8 RGB frames of one size; commits the output only on a clean `close()`."""

    #: whether this kind of output can hold an audio track (gif and frame folders cannot)
    carries_audio = False

    def __init__(self, target: str, fps: float) -> None:
        if not (fps > 0 and math.isfinite(fps)):
            raise VideoError(f"{target}: frame rate must be a positive number, got {fps}")
        self.target = target
        self.fps = float(fps)
        self.frames_written = 0
        self._size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        raise_if_stopped()
        check_frame(frame)
        size = (frame.shape[1], frame.shape[0])
        if self._size is None:
            self._size = size
            self._start(size)
        elif size != self._size:
            raise VideoError(f"{self.target}: frame size {size} differs from the first frame's {self._size}")
        self._write(np.ascontiguousarray(frame))
        self.frames_written += 1

    def write_many(self, frames: Iterable[np.ndarray]) -> None:
        for frame in frames:
            self.write(frame)

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) of the frames written so far; None before the first."""
        return self._size

    def close(self) -> None:
        """Finish and commit the output; a commit that fails (the final rename refused) leaves nothing behind."""
        if self.frames_written == 0:
            self.abort()
            raise VideoError(f"{self.target}: no frames were written")
        try:
            self._commit()
        except BaseException:
            self.abort()
            raise

    @abstractmethod
    def abort(self) -> None:
        """Discard everything written so far; an existing target stays untouched."""

    @abstractmethod
    def _start(self, size: tuple[int, int]) -> None:
        """Open the temporary output for frames of ``size`` (W, H)."""

    @abstractmethod
    def _write(self, frame: np.ndarray) -> None:
        """Append one frame to the temporary output."""

    @abstractmethod
    def _commit(self) -> None:
        """Finish the temporary output and move it over the target."""

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


#: the rate a looped sound is resampled to (ffmpeg's aloop measures its period in samples)
_LOOP_SAMPLE_RATE = 48000


class FfmpegWriter(VideoWriter):
    """Encodes with ffmpeg into a temporary file beside `path` (or straight to stdout when path is None)."""

    def __init__(self, path: Path | None, container: _Container, fps: float,
                 audio_from: Path | None = None, audio_start: float = 0.0,
                 audio_loop: float | None = None) -> None:
        super().__init__(STDIO if path is None else str(path), fps)
        self.path = path
        self.container = container
        self.carries_audio = container.audio_codec is not None
        self.audio_from = audio_from if container.audio_codec and has_audio(audio_from) else None
        self.audio_start = audio_start
        self.audio_loop = audio_loop
        self._created: list[Path] = []
        if path is not None:
            check_output(path)
            self._created = make_parent(path)
        self._temporary = None if path is None else temporary_sibling(path)
        self._process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        self._stdout_pump: threading.Thread | None = None

    def _start(self, size: tuple[int, int]) -> None:
        width, height = size
        if self.container.even_size:
            width, height = width + width % 2, height + height % 2
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                   "-framerate", f"{self.fps:.6g}", "-i", "pipe:0"]
        if self.path is None and self.audio_from is not None:
            # A stream cannot be re-muxed afterwards: mux now, padding the audio with silence so that
            # -shortest ends the output with the video, never earlier.
            command += [*self._audio_input(), "-map", "0:v:0", "-map", "1:a:0",
                        "-af", ",".join([*self._audio_filters(), "apad"]), "-shortest",
                        "-c:a", self.container.audio_codec]
        container = self.container
        command += [*container.video_args, *container.muxer_args, "-f", container.ffmpeg_format]
        command.append("pipe:1" if self.path is None else str(self._temporary))
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=self._stdout_target(),
                                         stderr=self._log, **CHILD_PROCESS)
        if self.path is None and self._process.stdout is not None:
            self._stdout_pump = threading.Thread(target=_pump, args=(self._process.stdout,), daemon=True)
            self._stdout_pump.start()

    def _stdout_target(self) -> int:
        if self.path is not None:
            return subprocess.DEVNULL
        if sys.stdout is None:  # started with standard output closed (`>&-`)
            raise OutputError("standard output is closed: nothing can be written to '-'")
        sys.stdout.flush()
        try:
            return sys.stdout.buffer.fileno()
        except (AttributeError, OSError, ValueError):  # a captured stdout (tests): copy from a pipe
            return subprocess.PIPE

    def _write(self, frame: np.ndarray) -> None:
        if self.container.even_size and (frame.shape[0] % 2 or frame.shape[1] % 2):
            # Replicating the edge row/column hides the padding better than a black line.
            frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
        try:
            self._process.stdin.write(frame.tobytes())
        except BrokenPipeError:
            self._finish_process()  # raises with ffmpeg's own message
            raise VideoError(f"{self.target}: the encoder stopped unexpectedly") from None

    def _finish_process(self) -> None:
        process = self._process
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        process.wait()
        if self._stdout_pump is not None:
            self._stdout_pump.join()
        self._log.seek(0)
        log = self._log.read().decode(errors="replace")
        self._log.close()
        if process.returncode != 0:
            self._discard_temporary()
            if self.path is None and (process.returncode == -signal.SIGPIPE or "Broken pipe" in log):
                raise OutputClosed("the reader of stdout went away")
            reason = encoder_failure(log, process.returncode)
            error = OutOfSpaceError if reason in _OUT_OF_SPACE else VideoError
            raise error(f"{self.target}: ffmpeg failed to encode ({reason})")

    def _commit(self) -> None:
        self._finish_process()
        if self.path is None:
            return
        if self.audio_from is not None:
            self._mux_audio()
        os.replace(self._temporary, self.path)

    def _audio_input(self) -> list[str]:
        period = [] if self.audio_loop is None else ["-t", f"{self.audio_loop:.6f}"]
        return ["-ss", f"{self.audio_start:.6f}", *period, "-i", str(self.audio_from)]

    def _audio_filters(self) -> list[str]:
        """With ``audio_loop``, the period read from ``audio_start`` repeats without end (the output's length
        cuts it): aloop counts samples, so the rate is fixed first."""
        if self.audio_loop is None:
            return []
        samples = max(1, round(self.audio_loop * _LOOP_SAMPLE_RATE))
        return [f"aresample={_LOOP_SAMPLE_RATE}", f"aloop=loop=-1:size={samples}"]

    def _mux_audio(self) -> None:
        """Add the audio of `audio_from`, cut to the video's duration; on failure keep the silent video."""
        muxed = temporary_sibling(self.path)
        duration = self.frames_written / self.fps
        filters = self._audio_filters()
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-nostdin", "-loglevel", "error",
                   "-i", str(self._temporary), *self._audio_input(), "-map", "0:v:0", "-map", "1:a:0",
                   *(["-af", ",".join(filters)] if filters else []),
                   "-c:v", "copy", "-c:a", self.container.audio_codec, "-t", f"{duration:.6f}",
                   *self.container.muxer_args, "-f", self.container.ffmpeg_format, str(muxed)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, errors="replace", **CHILD_PROCESS)
            if result.returncode == 0:
                os.replace(muxed, self._temporary)
                return
        finally:
            muxed.unlink(missing_ok=True)
        warnings.warn(f"could not add the audio of {self.audio_from} "
                      f"({encoder_failure(result.stderr, result.returncode)}); the video was written without sound",
                      stacklevel=2)

    def abort(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._log is not None:
            self._log.close()
        self._discard_temporary()
        remove_created(self._created)

    def _discard_temporary(self) -> None:
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)


class FrameDirWriter(VideoWriter):
    """Lossless numbered PNG frames (000000.png, …), written into a temporary directory first.

    A folder that already holds anything is refused unless ``overwrite``; then it is replaced as a whole on
    success, so no frame of an earlier, longer run nor any unrelated file is left mixed in with the new frames.
    """

    def __init__(self, directory: Path, fps: float, overwrite: bool = False) -> None:
        super().__init__(str(directory), fps)
        # The folder itself, not a name for it (``..``, a symlink): that is what is replaced, beside its real parent.
        directory = Path(os.path.abspath(directory))
        self.directory = directory.resolve() if directory.is_symlink() else directory
        check_output(directory, replaces_folder=True)
        if directory.exists() and not directory.is_dir():
            raise OutputError(f"{directory}: is a file; a folder of frames cannot be written there")
        if directory.is_dir() and any(directory.iterdir()) and not overwrite:
            raise OutputError(f"{directory}: folder is not empty; pass --overwrite to replace its contents")
        self._created = make_parent(self.directory)
        self._temporary = temporary_sibling(self.directory)
        self._temporary.mkdir()

    def _start(self, size: tuple[int, int]) -> None:
        """Nothing to set up: every frame is its own file."""

    def _write(self, frame: np.ndarray) -> None:
        frame_path = self._temporary / FRAME_NAME.format(index=self.frames_written)
        if not cv2.imwrite(str(frame_path), frame[..., ::-1]):
            raise VideoError(f"{frame_path}: could not write the frame")

    def _commit(self) -> None:
        if not self.directory.exists():
            os.replace(self._temporary, self.directory)
            return
        # Two renames: the old folder is out of the way only for an instant, and is deleted only once the new
        # one is in place.
        previous = temporary_sibling(self.directory)
        os.replace(self.directory, previous)
        try:
            os.replace(self._temporary, self.directory)
        except BaseException:
            os.replace(previous, self.directory)  # the old folder goes back where it was
            raise
        shutil.rmtree(previous, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self._temporary, ignore_errors=True)
        remove_created(self._created)


def open_writer(spec: str | Path, fps: float, audio_from: Path | None = None,
                audio_start: float = 0.0, overwrite: bool = False, audio_loop: float | None = None) -> VideoWriter:
    """A writer chosen by the target: `-` (fragmented mp4 on stdout), .mp4/.m4v/.mov/.mkv (H.264),
    .webm (VP9), .gif (one palette), or a directory of PNG frames (an existing directory, a path ending in
    `/`, or a path without a suffix). `audio_from`'s audio track, if any, is muxed in from `audio_start`
    seconds on, cut to the video's length; with ``audio_loop`` the ``audio_loop`` seconds from there repeat
    until the video ends (the sound of a looped driving video). ``overwrite`` allows replacing a non-empty frame
    directory."""
    text = str(spec)
    if text == STDIO:
        return FfmpegWriter(None, _STDOUT_CONTAINER, fps, audio_from, audio_start, audio_loop)
    path = Path(spec)
    if writes_a_folder(text):
        return FrameDirWriter(path, fps, overwrite)
    container = CONTAINERS.get(path.suffix.lower())
    if container is None:
        supported = ", ".join(CONTAINERS)
        raise VideoError(f"{path}: unsupported output type (expected {supported}, a directory or '-')")
    return FfmpegWriter(path, container, fps, audio_from, audio_start, audio_loop)


def writes_a_folder(spec: str | Path) -> bool:
    """Whether ``open_writer`` writes ``spec`` as a folder of frames: an existing folder, a path ending in a
    separator, or a path without a suffix."""
    text = str(spec)
    return text != STDIO and (text.endswith(("/", os.sep)) or Path(text).is_dir() or not Path(text).suffix)


def write_video(spec: str | Path, frames: Iterable[np.ndarray], fps: float,
                audio_from: Path | None = None, audio_start: float = 0.0, overwrite: bool = False) -> None:
    """Write all `frames` to `spec` (see `open_writer`)."""
    with open_writer(spec, fps, audio_from, audio_start, overwrite) as writer:
        writer.write_many(frames)


#: ffmpeg's own words for failures that have a plainer name.
_KNOWN_FAILURES = {"No space left on device": "no space left on device", "Disk quota exceeded": "disk quota exceeded",
                   "File too large": "file size limit exceeded", "Permission denied": "permission denied",
                   "Read-only file system": "read-only file system"}


_OUT_OF_SPACE = {"no space left on device", "disk quota exceeded", "file size limit exceeded"}


def encoder_failure(log: str, returncode: int) -> str:
    """Why ffmpeg failed, in one short phrase: a known cause named plainly, else its last log line."""
    for phrase, plain in _KNOWN_FAILURES.items():
        if phrase in log:
            return plain
    if returncode == -signal.SIGXFSZ:
        return "file size limit exceeded"
    if returncode < 0:
        return f"killed by signal {-returncode}"
    return last_line(log)


def _pump(source: IO[bytes]) -> None:
    for chunk in iter(lambda: source.read(1 << 16), b""):
        sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
