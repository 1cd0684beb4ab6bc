"""dlib's face models from the optional ``faces`` extra, shared by cropping, best-frame search and evaluation.

The model files come from the ``face-recognition-models`` package, located without importing it (its
``__init__`` needs pkg_resources, which recent setuptools no longer ship). Models load once per process.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np

FACES_EXTRA_HINT = "install the faces extra: pip install 'animcli[faces]' (dlib-bin, face-recognition-models)"
LANDMARKS_FILE = "shape_predictor_68_face_landmarks.dat"
# dlib's frontal detector finds faces of about 80 px and more; in face-video crops the face spans about half
# the frame, so small frames are upsampled (×2 per step) until their short side reaches this.
MIN_DETECTION_SIDE = 160


def dlib_available() -> bool:
    return importlib.util.find_spec("dlib") is not None


def face_model_dir() -> Path | None:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "models"


def missing_reason(model_file: str) -> str | None:
    """Why a dlib model file cannot be used here, or None when it can."""
    if not dlib_available():
        return f"dlib is not installed; {FACES_EXTRA_HINT}"
    model_dir = face_model_dir()
    if model_dir is None or not (model_dir / model_file).is_file():
        return f"{model_file} not found; {FACES_EXTRA_HINT}"
    return None


@functools.cache
def dlib_model(factory_name: str, model_file: str | None = None) -> Any:
    """``dlib.<factory_name>(path of model_file)`` (or with no argument), loaded once per process."""
    import dlib

    factory = getattr(dlib, factory_name)
    return factory() if model_file is None else factory(str(face_model_dir() / model_file))


def detection_upsampling(image: np.ndarray) -> int:
    return max(0, math.ceil(math.log2(MIN_DETECTION_SIDE / min(image.shape[:2]))))


def first_face_shape(image: np.ndarray) -> Any | None:
    """dlib's 68-point shape of the first detected face in an RGB uint8 image, or None."""
    faces = dlib_model("get_frontal_face_detector")(image, detection_upsampling(image))
    return dlib_model("shape_predictor", LANDMARKS_FILE)(image, faces[0]) if len(faces) else None


def face_landmarks(image: np.ndarray) -> np.ndarray | None:
    """(68, 2) pixel (x, y) landmarks of the first detected face, or None."""
    shape = first_face_shape(image)
    return None if shape is None else np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
