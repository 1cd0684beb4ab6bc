"""Image and video input/output for every command, through OpenCV (images) and the ffmpeg bundled with
imageio-ffmpeg (videos): no system ffmpeg is needed.

Conventions: frames are (H, W, 3) uint8 RGB arrays; videos are read as streams, never held in memory whole;
outputs are written atomically (to a hidden temporary beside the target, renamed over it only when the
write completed), so a failed or interrupted run never leaves a half-written or clobbered file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import cv2
import imageio_ffmpeg
import numpy as np

from animcli.errors import AnimcliError
from animcli.files import atomic_path, temporary_sibling

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".avi", ".mkv", ".gif", ".m4v")
STDIO = "-"
DEFAULT_FRAME_DIR_FPS = 25.0
FRAME_NAME = "{index:06d}.png"
_FRAME_NAME_PATTERN = re.compile(r"^\d{6}\.png$")


class VideoError(AnimcliError):
    """A missing, unreadable or unsupported image/video, or an output that cannot be written."""


# --------------------------------------------------------------------------------------------- images


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB.

    Grayscale is replicated to RGB, 16-bit is scaled to 8-bit, and transparent pixels are composited on
    black (alpha premultiplied), so a cut-out subject keeps its outline instead of revealing whatever
    colour the transparent pixels happen to store. JPEG EXIF orientation is honoured.
    """
    path = Path(path)
    _require_file(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise VideoError(f"{path}: unsupported image type (expected one of {', '.join(IMAGE_SUFFIXES)})")
    # JPEG has no alpha, and only the non-UNCHANGED modes apply the EXIF rotation.
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR if jpeg else cv2.IMREAD_UNCHANGED
    # imdecode on the raw bytes rather than imread: imread cannot report why it failed.
    decoded = cv2.imdecode(np.fromfile(path, dtype=np.uint8), flags)
    if decoded is None or decoded.size == 0:
        raise VideoError(f"{path}: not a readable image (corrupt or truncated?)")
    return _to_rgb8(decoded)


def _to_rgb8(decoded: np.ndarray) -> np.ndarray:
    """OpenCV's decoded array (gray / BGR / BGRA, 8 or 16 bit) → uint8 RGB."""
    image = decoded.astype(np.float32) / 257.0 if decoded.dtype == np.uint16 else decoded.astype(np.float32)
    if image.ndim == 2:
        image = image[..., None]
    channels = image.shape[2]
    if channels in (2, 4):  # gray+alpha or BGRA: composite on black
        image = image[..., :-1] * (image[..., -1:] / 255.0)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    rgb = image[..., ::-1]
    return np.ascontiguousarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 image atomically; the format follows the suffix."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise VideoError(f"{path}: unsupported image type (expected one of {', '.join(IMAGE_SUFFIXES)})")
    _check_frame(image)
    ok, encoded = cv2.imencode(path.suffix.lower(), np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        raise VideoError(f"{path}: could not encode the image")
    with atomic_path(path) as temporary:
        temporary.write_bytes(encoded.tobytes())
    return path


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize to size×size (aspect ratio not kept: inputs are expected to be square crops already).

    Area averaging when shrinking (no aliasing of fine texture), bilinear when growing.
    """
    height, width = image.shape[:2]
    if (height, width) == (size, size):
        return image
    interpolation = cv2.INTER_AREA if size < max(height, width) else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


# ---------------------------------------------------------------------------------------------- probe


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    size: tuple[int, int]  # (W, H) of the decoded (rotation-corrected) frames
    frame_count: int | None
    has_audio: bool

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: .*?, (\d+)x(\d+)\b")
_FPS = re.compile(r"([\d.]+) (?:fps|tbr)")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")
_FRAMES = re.compile(r"frame=\s*(\d+)")


def probe_video(path: str | Path) -> dict:
    """fps, size (W, H), frame_count and has_audio of a video file, as a dict."""
    return _probe(Path(path)).as_dict()


def _probe(path: Path) -> VideoInfo:
    """One demux-only ffmpeg pass (packets copied, nothing decoded): fast even on long videos."""
    _require_file(path)
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path),
               "-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    log = result.stderr
    stream = _VIDEO_STREAM.search(log)
    if result.returncode != 0 or stream is None:
        raise VideoError(f"{path}: not a readable video ({_last_line(log)})")
    width, height = int(stream.group(1)), int(stream.group(2))
    rotation = _ROTATION.search(log)
    if rotation and round(float(rotation.group(1))) % 180:
        width, height = height, width
    stream_line = log[stream.start():].splitlines()[0]
    fps_match = _FPS.search(stream_line)
    frames = _FRAMES.findall(log)
    return VideoInfo(
        fps=float(fps_match.group(1)) if fps_match else DEFAULT_FRAME_DIR_FPS,
        size=(width, height),
        frame_count=int(frames[-1]) if frames else None,
        has_audio=re.search(r"Stream #\d+:\d+.*?: Audio: ", log) is not None,
    )


# --------------------------------------------------------------------------------------------- readers


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
            info = _probe(path)
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
            raise VideoError(f"{self.name}: corrupt or unreadable video ({_last_line(str(exc))})") from None
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
    if path.is_dir():
        return FrameDirReader(path, fps)
    _require_file(path)
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


# --------------------------------------------------------------------------------------------- writers


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

    def __init__(self, target: str, fps: float) -> None:
        if not fps > 0:
            raise VideoError(f"{target}: frame rate must be positive, got {fps}")
        self.target = target
        self.fps = float(fps)
        self.frames_written = 0
        self._size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        _check_frame(frame)
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

    def close(self) -> None:
        """Finish and commit the output."""
        if self.frames_written == 0:
            self.abort()
            raise VideoError(f"{self.target}: no frames were written")
        self._commit()

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


class FfmpegWriter(VideoWriter):
    """Encodes with ffmpeg into a temporary file beside `path` (or straight to stdout when path is None)."""

    def __init__(self, path: Path | None, container: _Container, fps: float,
                 audio_from: Path | None = None, audio_start: float = 0.0) -> None:
        super().__init__(STDIO if path is None else str(path), fps)
        self.path = path
        self.container = container
        self.audio_from = audio_from if container.audio_codec and _has_audio(audio_from) else None
        self.audio_start = audio_start
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
            command += [*self._audio_input(), "-map", "0:v:0", "-map", "1:a:0", "-af", "apad",
                        "-shortest", "-c:a", self.container.audio_codec]
        container = self.container
        command += [*container.video_args, *container.muxer_args, "-f", container.ffmpeg_format]
        command.append("pipe:1" if self.path is None else str(self._temporary))
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=self._stdout_target(),
                                         stderr=self._log)
        if self.path is None and self._process.stdout is not None:
            self._stdout_pump = threading.Thread(target=_pump, args=(self._process.stdout,), daemon=True)
            self._stdout_pump.start()

    def _stdout_target(self) -> int:
        if self.path is not None:
            return subprocess.DEVNULL
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
            raise VideoError(f"{self.target}: ffmpeg failed to encode ({_last_line(log)})")

    def _commit(self) -> None:
        self._finish_process()
        if self.path is None:
            return
        if self.audio_from is not None:
            self._mux_audio()
        os.replace(self._temporary, self.path)

    def _audio_input(self) -> list[str]:
        return ["-ss", f"{self.audio_start:.6f}", "-i", str(self.audio_from)]

    def _mux_audio(self) -> None:
        """Add the audio of `audio_from`, cut to the video's duration; on failure keep the silent video."""
        muxed = temporary_sibling(self.path)
        duration = self.frames_written / self.fps
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-nostdin", "-loglevel", "error",
                   "-i", str(self._temporary), *self._audio_input(), "-map", "0:v:0", "-map", "1:a:0",
                   "-c:v", "copy", "-c:a", self.container.audio_codec, "-t", f"{duration:.6f}",
                   *self.container.muxer_args, "-f", self.container.ffmpeg_format, str(muxed)]
        result = subprocess.run(command, capture_output=True, text=True, errors="replace")
        if result.returncode == 0:
            os.replace(muxed, self._temporary)
        else:
            muxed.unlink(missing_ok=True)
            print(f"animcli: warning: could not add the audio of {self.audio_from} "
                  f"({_last_line(result.stderr)}); the video was written without sound", file=sys.stderr)

    def abort(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._log is not None:
            self._log.close()
        self._discard_temporary()

    def _discard_temporary(self) -> None:
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)


class FrameDirWriter(VideoWriter):
    """Lossless numbered PNG frames (000000.png, …), written into a temporary directory first."""

    def __init__(self, directory: Path, fps: float) -> None:
        super().__init__(str(directory), fps)
        self.directory = directory
        directory.parent.mkdir(parents=True, exist_ok=True)
        self._temporary = temporary_sibling(directory)
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
        # An existing directory may hold the user's other files: replace only our numbered frames in it.
        for stale in self.directory.iterdir():
            if _FRAME_NAME_PATTERN.match(stale.name) and int(stale.stem) >= self.frames_written:
                stale.unlink()
        for frame_path in sorted(self._temporary.iterdir()):
            os.replace(frame_path, self.directory / frame_path.name)
        self._temporary.rmdir()

    def abort(self) -> None:
        shutil.rmtree(self._temporary, ignore_errors=True)


def open_writer(spec: str | Path, fps: float, audio_from: Path | None = None,
                audio_start: float = 0.0) -> VideoWriter:
    """A writer chosen by the target: `-` (fragmented mp4 on stdout), .mp4/.m4v/.mov/.mkv (H.264),
    .webm (VP9), .gif (one palette), or a directory of PNG frames (an existing directory, a path ending in
    `/`, or a path without a suffix). `audio_from`'s audio track, if any, is muxed in from `audio_start`
    seconds on, cut to the video's length."""
    text = str(spec)
    if text == STDIO:
        return FfmpegWriter(None, _STDOUT_CONTAINER, fps, audio_from, audio_start)
    path = Path(spec)
    if text.endswith(("/", os.sep)) or path.is_dir() or not path.suffix:
        return FrameDirWriter(path, fps)
    container = CONTAINERS.get(path.suffix.lower())
    if container is None:
        supported = ", ".join(CONTAINERS)
        raise VideoError(f"{path}: unsupported output type (expected {supported}, a directory or '-')")
    path.parent.mkdir(parents=True, exist_ok=True)
    return FfmpegWriter(path, container, fps, audio_from, audio_start)


def write_video(spec: str | Path, frames: Iterable[np.ndarray], fps: float,
                audio_from: Path | None = None, audio_start: float = 0.0) -> None:
    """Write all `frames` to `spec` (see `open_writer`)."""
    with open_writer(spec, fps, audio_from, audio_start) as writer:
        writer.write_many(frames)


# --------------------------------------------------------------------------------------------- helpers


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise VideoError(f"expected an (H, W, 3) uint8 RGB frame, got shape {shape} and dtype {dtype}")


def _require_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")


def _has_audio(path: Path | None) -> bool:
    if path is None:
        return False
    try:
        return _probe(Path(path)).has_audio
    except VideoError as exc:
        print(f"animcli: warning: no audio taken from {path}: {exc}", file=sys.stderr)
        return False


def _pump(source: IO[bytes]) -> None:
    for chunk in iter(lambda: source.read(1 << 16), b""):
        sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


def _last_line(log: str) -> str:
    lines = [line.strip() for line in log.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no details"
