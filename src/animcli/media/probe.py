"""What a video file holds (frame rate, decoded frame size, frame count, audio), from ffmpeg's own reports.

The stream header comes from imageio-ffmpeg's parser (the metadata ``read_frames`` yields before any frame);
the frame count from one demux-only ffmpeg pass (packets copied, nothing decoded, so it is fast even on long
videos) whose machine-readable ``-progress`` report names the frames it saw.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio_ffmpeg

from animcli.common.errors import VideoError
from animcli.media.images import require_file

DEFAULT_FRAME_DIR_FPS = 25.0
#: Popen arguments of every ffmpeg animcli starts: in a session of its own, so that the Ctrl-C a terminal sends
#: to its whole foreground process group reaches animcli alone, which then finishes (or discards) the output
#: itself instead of finding its encoder killed mid-file.
CHILD_PROCESS = {"start_new_session": True}


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    size: tuple[int, int]  # (W, H) of the decoded (rotation-corrected) frames
    frame_count: int | None
    has_audio: bool
    #: what ffmpeg reported reading the file's packets ("truncated", or its first error line); None: intact
    damage: str | None = None
    #: frames the container's header announces (its duration × frame rate): more than ``frame_count`` when cut
    announced_frames: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def probe_video(path: str | Path) -> dict[str, Any]:
    """fps, size (W, H), frame_count and has_audio of a video file, as a dict."""
    return probe(Path(path)).as_dict()


def probe(path: Path) -> VideoInfo:
    require_file(path)
    header = _stream_header(path)
    fps = float(header["fps"]) or DEFAULT_FRAME_DIR_FPS
    frame_count, errors = _count_frames(path)
    duration = float(header.get("duration") or 0)
    return VideoInfo(
        fps=fps,
        size=tuple(header["size"]),
        frame_count=frame_count,
        has_audio="audio_codec" in header,
        damage=damage_reason(errors),
        announced_frames=round(duration * fps) if duration > 0 else None,
    )


#: ffmpeg's words for a file that ends before its packets do.
_TRUNCATED = ("partial file", "End of file", "moov atom not found")


def damage_reason(errors: list[str]) -> str | None:
    """``truncated`` or ffmpeg's first error line (its ``[component @ address]`` prefix dropped); None for none."""
    if not errors:
        return None
    if any(marker in line for line in errors for marker in _TRUNCATED):
        return "truncated"
    return "corrupt data: " + _ADDRESS.sub("", errors[0]).strip().rstrip(".")


_ADDRESS = re.compile(r"\[[^\]]*@ 0x[0-9a-f]+\]\s*")


# What imageio-ffmpeg raises when ffmpeg cannot open the file or its header has no video stream.
_UNREADABLE = (OSError, RuntimeError, IndexError, AttributeError, ValueError)


def _stream_header(path: Path) -> dict[str, Any]:
    """imageio-ffmpeg's metadata of the first video stream; ffmpeg is stopped before it decodes anything."""
    frames = imageio_ffmpeg.read_frames(str(path), input_params=["-nostdin"],
                                        output_params=["-fps_mode", "passthrough"])
    try:
        return next(frames)
    except _UNREADABLE as exc:
        raise VideoError(f"{path}: not a readable video ({last_line(str(exc))})") from None
    finally:
        frames.close()


def _count_frames(path: Path) -> tuple[int | None, list[str]]:
    """The video packets in the file, and the errors ffmpeg reported reading them (a cut or corrupt file)."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(path),
               "-map", "0:v:0", "-c", "copy", "-f", "null", "-progress", "pipe:1", "-"]
    result = subprocess.run(command, capture_output=True, text=True, errors="replace", **CHILD_PROCESS)
    if "matches no streams" in result.stderr:  # a container without a single video frame
        raise VideoError(f"{path}: the video has no frames (no video stream)")
    if result.returncode != 0:
        raise VideoError(f"{path}: not a readable video ({last_line(result.stderr)})")
    counts = [line.partition("=")[2] for line in result.stdout.splitlines() if line.startswith("frame=")]
    count = int(counts[-1]) if counts and counts[-1].strip().isdigit() else None
    return count, error_lines(result.stderr)


def error_lines(log: str) -> list[str]:
    return [line.strip() for line in log.splitlines() if line.strip()]


def has_audio(path: Path | None) -> bool:
    """Whether ``path`` has an audio track; an unreadable file warns and counts as silent."""
    if path is None:
        return False
    try:
        return probe(Path(path)).has_audio
    except VideoError as exc:
        warnings.warn(f"no audio taken from {path}: {exc}", stacklevel=2)
        return False


def last_line(log: str) -> str:
    """The last non-empty line of an ffmpeg log: where it says what went wrong."""
    lines = [line.strip() for line in log.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no details"
