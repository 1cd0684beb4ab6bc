"""Live input: a camera (OpenCV capture of an index, a device or a stream URL) or a video file standing in for
one, read by its own thread into a one-frame mailbox, so the animation always takes the newest frame.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from animcli.common.errors import AnimcliError
from animcli.media import VideoReader, open_video

#: Frame rate assumed for cameras that do not report one.
DEFAULT_CAMERA_FPS = 30.0


@dataclass(frozen=True)
class CapturedFrame:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    index: int  # the camera's frame number (frames it delivered before this one)
    captured_at: float  # time.monotonic() when it arrived


class FrameSource(ABC):
    """Frames at the pace a camera delivers them."""

    fps: float
    name: str

    @abstractmethod
    def frames(self) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 RGB frames, each as soon as it is available; ends when the input does."""

    def close(self) -> None:  # noqa: B027 - sources without resources have nothing to release
        """Release the device or file."""


class FileSource(FrameSource):
    """A video file (or frame folder) played at its own frame rate, as a camera would deliver it."""

    def __init__(self, path: Path) -> None:
        self.reader: VideoReader = open_video(path)
        self.fps = self.reader.fps
        self.name = str(path)

    def frames(self) -> Iterator[np.ndarray]:
        start: float | None = None  # the clock starts at the first frame (decoder start-up is not playback)
        for index, frame in enumerate(self.reader):
            if start is None:
                start = time.monotonic()
            delay = start + index / self.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            yield frame

    def close(self) -> None:
        self.reader.close()


class CameraSource(FrameSource):
    """An OpenCV capture: a camera index, a device path (/dev/videoN) or a network stream URL."""

    def __init__(self, spec: int | str) -> None:
        self.capture = cv2.VideoCapture(spec)
        self.name = str(spec)
        if not self.capture.isOpened():
            raise AnimcliError(f"cannot open camera {spec!r} (no such device, or it is busy)")
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS)) or DEFAULT_CAMERA_FPS

    def frames(self) -> Iterator[np.ndarray]:
        while True:
            ok, bgr = self.capture.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.capture.release()


def open_camera(spec: str) -> FrameSource:
    """``0`` (camera index), ``/dev/videoN``, a URL (``rtsp://…``, ``http://…``) or a video file / frame folder."""
    if spec.isdigit():
        return CameraSource(int(spec))
    if spec.startswith("/dev/") or "://" in spec:
        return CameraSource(spec)
    if Path(spec).exists():
        return FileSource(Path(spec))
    raise AnimcliError(f"--camera {spec!r}: not a camera index, device, URL or existing video file")


class LatestFrame:
    """A one-item mailbox: a new item replaces one not yet taken (which is counted as dropped), so the reader
    always gets the newest and nothing queues up."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: CapturedFrame | None = None
        self._closed = False
        self.received = 0
        self.dropped = 0

    def put(self, item: CapturedFrame) -> None:
        with self._condition:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self.received += 1
            self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def take(self, timeout: float) -> CapturedFrame | None:
        """The newest item; None after ``timeout`` seconds without one. Raises EOFError once closed and empty."""
        with self._condition:
            if self._item is None and not self._closed:
                self._condition.wait(timeout)
            item, self._item = self._item, None
            if item is None and self._closed:
                raise EOFError
            return item


class CaptureThread(threading.Thread):
    """Reads the source as fast as it delivers, into a :class:`LatestFrame`; the source's error, if any, is kept
    for the caller."""

    def __init__(self, source: FrameSource, mailbox: LatestFrame) -> None:
        super().__init__(name="animcli-capture", daemon=True)
        self.source = source
        self.mailbox = mailbox
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for index, image in enumerate(self.source.frames()):
                if self.stopping.is_set():
                    break
                self.mailbox.put(CapturedFrame(image, index, time.monotonic()))
        except KeyboardInterrupt:
            pass  # a signal the reader saw pending (Ctrl-C ends a session): the main thread handles it
        except Exception as exc:  # reported by the session on the main thread
            self.error = exc
        finally:
            self.mailbox.close()
