"""Offline face detectors: dlib (HOG or the MMOD CNN, from the `faces` extra) or OpenCV's bundled Haar
cascade. All return boxes around the *head*, calibrated per detector, so that the same crop rule frames
every backend alike.

Calibration: each detector's raw face box is grown and raised so that, on the VoxCeleb-style crops the
models were trained on, the head box plus the default 10 % margin spans the whole crop (the raw dlib HOG
box covers about half a VoxCeleb crop, centred a fifth of its height below the crop centre).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from animcli.common.errors import AnimcliError
from animcli.crop import faces
from animcli.crop.boxes import Box

DETECTORS = ("auto", "dlib-hog", "dlib-mmod", "opencv")
# The official crop script detects on frames no larger than this (longer side), for speed.
DETECTION_SIDE = 640
# Below this size dlib's detectors upsample once: their smallest face is ~80 px otherwise.
UPSAMPLE_BELOW = 400
MMOD_FILE = "mmod_human_face_detector.dat"
# OpenCV's HOG people detector finds upright people at least 128 px tall; it runs on frames no larger than this.
PEOPLE_DETECTION_SIDE = 400
# Its detections scoring lower are mostly clutter or fragments of a person (seen on the taichi and TED samples).
PEOPLE_MIN_SCORE = 0.5
PEOPLE_EDGE_ROOM = 0.2  # of the frame's longer side, on every side


class DetectorUnavailable(AnimcliError):
    """The requested detector cannot run here (dlib or its model files are not installed)."""


@dataclass(frozen=True)
class FaceDetector:
    name: str
    head_scale: float
    head_shift_up: float

    def detect(self, frame: np.ndarray) -> list[Box]:
        """Head boxes in `frame` (RGB uint8), in the frame's pixels."""
        small, factor = _downscaled(frame, DETECTION_SIDE)
        faces = self._raw_faces(small)
        return [face.scaled(1 / factor).reframed(self.head_scale, self.head_shift_up) for face in faces]

    def _raw_faces(self, frame: np.ndarray) -> list[Box]:
        upsample = 1 if max(frame.shape[:2]) < UPSAMPLE_BELOW else 0
        if self.name == "opencv":
            gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            min_side = max(min(gray.shape) // 12, 20)
            found = _haar_cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                                     minSize=(min_side, min_side))
            return [Box.from_xywh(*map(float, xywh)) for xywh in found]
        if self.name == "dlib-hog":
            rectangles = faces.dlib_model("get_frontal_face_detector")(frame, upsample)
        else:
            mmod = faces.dlib_model("cnn_face_detection_model_v1", MMOD_FILE)
            rectangles = [detection.rect for detection in mmod(frame, upsample)]
        return [Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rectangles]


_CALIBRATION = {
    "dlib-hog": (1.7, 0.2),
    "dlib-mmod": (1.8, 0.15),
    "opencv": (1.5, 0.1),
}


def get_detector(name: str = "auto") -> FaceDetector:
    """A detector by name; `auto` prefers dlib's HOG (more accurate, still fast) over OpenCV's cascade."""
    if name not in DETECTORS:
        raise AnimcliError(f"unknown detector {name!r} (choose from {', '.join(DETECTORS)})")
    if name == "auto":
        name = "dlib-hog" if faces.dlib_available() else "opencv"
    if name.startswith("dlib"):
        _require_dlib(name)
    return FaceDetector(name, *_CALIBRATION[name])


def _require_dlib(name: str) -> None:
    reason = (faces.missing_reason(MMOD_FILE) if name == "dlib-mmod"
              else None if faces.dlib_available() else f"dlib is not installed; {faces.FACES_EXTRA_HINT}")
    if reason is not None:
        raise DetectorUnavailable(f"{name}: {reason} (or use --detector opencv)")


@cache
def _haar_cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    if cascade.empty():
        raise DetectorUnavailable("OpenCV's bundled face cascade is missing "
                                  "(needs opencv-python-headless < 5)")
    return cascade


def detect_people(frame: np.ndarray) -> list[Box]:
    """Whole-body boxes of upright people in `frame` (RGB uint8), in the frame's pixels."""
    small, factor = _downscaled(frame, PEOPLE_DETECTION_SIDE)
    # The detector's window includes a margin around the person; without room beyond the edges it misses
    # (or cuts) people who fill the frame, as in taichi videos. Replicated edges give it that room.
    pad = round(max(small.shape[:2]) * PEOPLE_EDGE_ROOM)
    padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    found, scores = _hog_people().detectMultiScale(padded, winStride=(8, 8), padding=(16, 16), scale=1.05)
    return [Box.from_xywh(x - pad, y - pad, width, height).scaled(1 / factor)
            for (x, y, width, height), score in zip(found, np.ravel(scores), strict=True)
            if score >= PEOPLE_MIN_SCORE]


def _downscaled(frame: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """`frame` shrunk (area filter) so that its longer side is at most `max_side`, and the factor used."""
    height, width = frame.shape[:2]
    factor = min(1.0, max_side / max(height, width))
    small = frame if factor == 1.0 else cv2.resize(
        frame, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small), factor


@cache
def _hog_people() -> cv2.HOGDescriptor:
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor.getDefaultPeopleDetector())
    return hog
