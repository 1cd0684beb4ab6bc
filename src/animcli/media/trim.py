"""Using part of a driving video: ``--start TIME``, ``--end TIME`` and ``--max-frames N``.

Frame ``i`` of a video is shown at ``i / fps`` seconds: a trim keeps the frames shown from ``start`` (inclusive)
to ``end`` (exclusive), at most ``max_frames`` of them. The trimmed video is itself a :class:`VideoReader`,
so cropping, best-frame search and audio (cut from the trim's first frame) work on it unchanged.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from animcli.common.errors import AnimcliError, VideoError
from animcli.media.readers import VideoReader

_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")


def parse_time(text: str, option: str) -> float:
    """Seconds from ``12.5``, ``1:02.5`` (M:SS) or ``1:02:03.5`` (H:MM:SS)."""
    try:
        seconds = float(text)
    except ValueError:
        match = _CLOCK.match(text.strip())
        if match is None:
            raise AnimcliError(f"{option} takes seconds (12.5) or a clock time ([H:]MM:SS[.ms]), got {text!r}"
                               ) from None
        hours, minutes, secs = match.groups()
        seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
    if not math.isfinite(seconds) or seconds < 0:
        raise AnimcliError(f"{option} must be a time >= 0, got {text!r}")
    return seconds


@dataclass(frozen=True)
class Trim:
    start: float = 0.0  # seconds
    end: float | None = None  # seconds, exclusive
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if self.end is not None and self.end <= self.start:
            raise AnimcliError(f"--end ({self.end:g} s) must come after --start ({self.start:g} s)")
        if self.max_frames is not None and self.max_frames < 1:
            raise AnimcliError(f"--max-frames must be at least 1, got {self.max_frames}")

    def frame_range(self, fps: float) -> tuple[int, int | None]:
        """(first frame, stop frame or None for the end of the video) at ``fps``."""
        # A hair of tolerance: 2.0 s at 30 fps is frame 60 even when the product rounds to 59.99999.
        first = math.ceil(self.start * fps - 1e-6)
        stop = math.ceil(self.end * fps - 1e-6) if self.end is not None else None
        if self.max_frames is not None:
            stop = first + self.max_frames if stop is None else min(stop, first + self.max_frames)
        return first, stop


class TrimmedVideo(VideoReader):
    """The frames of ``video`` that ``trim`` keeps; ``start_seconds`` is where they begin (for the audio)."""

    def __init__(self, video: VideoReader, trim: Trim) -> None:
        self.video = video
        self.first, self.stop = trim.frame_range(video.fps)
        self.start_seconds = self.first / video.fps
        self.fps, self.size, self.has_audio, self.path = video.fps, video.size, video.has_audio, video.path
        end = "" if self.stop is None else f" to {self.stop / video.fps:g} s"
        self.name = f"{video.name} (from {self.start_seconds:g} s{end})"
        total = video.frame_count
        if total is not None and self.first >= total:
            raise VideoError(f"{video.name}: --start {self.start_seconds:g} s is past the end of the video "
                             f"({total / video.fps:g} s, {total} frames)")
        if total is not None and self.stop is not None:
            total = min(total, self.stop)
        self.frame_count = None if total is None else max(total - self.first, 0)

    def _frames(self) -> Iterator[np.ndarray]:
        return itertools.islice(iter(self.video), self.first, self.stop)
