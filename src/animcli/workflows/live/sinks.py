"""Live output: a virtual camera, a preview window, a video file or a stream on stdout."""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from pathlib import Path

import cv2
import numpy as np

from animcli.common.errors import AnimcliError
from animcli.media import VideoWriter, open_writer

#: What a key press in the preview window asks for.
RECAPTURE_KEYS = (ord("r"), ord(" "))
QUIT_KEYS = (ord("q"), 27)  # q, Esc


class Sink(ABC):
    """Receives result frames (H, W, 3) uint8 RGB of one size, tagged with the camera frame they animate."""

    #: set by the window when the user asks to stop / to re-capture the reference pose
    quit_requested = False
    recapture_requested = False

    @abstractmethod
    def send(self, frame: np.ndarray, index: int) -> None:
        """Output the result for camera frame ``index``."""

    def close(self) -> None:  # noqa: B027 - sinks that hold nothing
        """Finish the output (a file is finalised here)."""

    def abort(self) -> None:
        """Give up after an error (a file is removed, never left half-written)."""
        self.close()


class RecordingSink(Sink):
    """A video file, frame folder or ``-`` (stdout), at the camera's frame rate. Camera frames that were
    dropped repeat the previous result, so the recording keeps real time."""

    def __init__(self, spec: str, fps: float) -> None:
        self.writer: VideoWriter = open_writer(spec if spec == "-" else Path(spec), fps)
        self.last: tuple[np.ndarray, int] | None = None

    def send(self, frame: np.ndarray, index: int) -> None:
        if self.last is not None:
            previous, previous_index = self.last
            for _ in range(index - previous_index - 1):
                self.writer.write(previous)
        self.writer.write(frame)
        self.last = (frame, index)

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        self.writer.abort()


class VirtualCameraSink(Sink):
    """A virtual camera (``pyvirtualcam``: v4l2loopback on Linux, OBS on Windows/macOS) for video calls."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise AnimcliError("-o virtual needs pyvirtualcam: pip install 'animcli[virtual]'") from None
        try:
            self.camera = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB)
        except RuntimeError as exc:
            message = " ".join(str(exc).split())
            raise AnimcliError(f"no virtual camera device ({message}); on Linux load v4l2loopback "
                               f"(`sudo modprobe v4l2loopback exclusive_caps=1`), or use {working_outputs()}"
                               ) from None

    def send(self, frame: np.ndarray, index: int) -> None:
        self.camera.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        self.camera.close()


class WindowSink(Sink):
    """A preview window: r or space re-captures the reference pose, q or Esc stops."""

    TITLE = "animcli live"

    def __init__(self) -> None:
        if not opencv_has_gui():
            raise AnimcliError("-o window needs a GUI, and this OpenCV build has none (opencv-python-headless): "
                               f"use {working_outputs()}")
        try:
            cv2.namedWindow(self.TITLE, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise AnimcliError(f"-o window needs a display, and there is none: use {working_outputs()}") from None

    def send(self, frame: np.ndarray, index: int) -> None:
        cv2.imshow(self.TITLE, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        self.quit_requested |= key in QUIT_KEYS
        self.recapture_requested |= key in RECAPTURE_KEYS

    def close(self) -> None:
        cv2.destroyWindow(self.TITLE)


#: ``live -o``'s default: a window where one can open, else a new video file.
AUTO = "auto"
#: the default recording's name where no window can open (``live-2.mp4``, … when taken).
DEFAULT_RECORDING = Path("live.mp4")


def opencv_has_gui() -> bool:
    """Whether this OpenCV build can open windows (opencv-python-headless cannot)."""
    return "GUI:                           NONE" not in cv2.getBuildInformation()


def window_possible() -> bool:
    """A GUI build, and on Linux a display to show it on."""
    has_display = not sys.platform.startswith("linux") or any(
        os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY"))
    return opencv_has_gui() and has_display


def working_outputs() -> str:
    """The -o choices that can work on this machine, for error messages."""
    choices = ["-o window"] if window_possible() else []
    if sys.platform.startswith("linux") and any(Path("/sys/devices/virtual/video4linux").glob("video*")):
        choices.append("-o virtual")
    return ", ".join([*choices, "-o FILE (e.g. live.mp4)"]) + " or -o - (mp4 on stdout)"


def default_output() -> str:
    """What ``-o auto`` means here: ``window`` where one can open, else the first free ``live[-N].mp4``."""
    if window_possible():
        return "window"
    candidate, number = DEFAULT_RECORDING, 1
    while candidate.exists():
        number += 1
        candidate = DEFAULT_RECORDING.with_stem(f"{DEFAULT_RECORDING.stem}-{number}")
    return str(candidate)


def open_sink(spec: str, width: int, height: int, fps: float) -> Sink:
    """``virtual``, ``window``, ``-`` or a file/folder path, for frames of width×height at ``fps``."""
    if spec == "virtual":
        return VirtualCameraSink(width, height, fps)
    if spec == "window":
        return WindowSink()
    return RecordingSink(spec, fps)
