"""Still images: reading and writing (OpenCV), and the one resize rule every command uses.

Frames are (H, W, 3) uint8 RGB arrays; outputs are written atomically (``files.atomic_path``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from animcli.common.errors import VideoError
from animcli.common.files import atomic_path, note_input

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB.

    Grayscale is replicated to RGB, 16-bit is scaled to 8-bit, and transparent pixels are composited on
    black (alpha premultiplied), so a cut-out subject keeps its outline instead of revealing whatever
    colour the transparent pixels happen to store. JPEG EXIF orientation is honoured.
    """
    path = Path(path)
    require_file(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise VideoError(f"{path}: unsupported image type (expected one of {', '.join(IMAGE_SUFFIXES)})")
    # JPEG has no alpha, and only the non-UNCHANGED modes apply the EXIF rotation.
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR if jpeg else cv2.IMREAD_UNCHANGED
    note_input(path)
    return _to_rgb8(decode_image(path, flags))


def decode_image(path: Path, flags: int) -> np.ndarray:
    """OpenCV's decoded array, or the one-line error for any failure (empty, truncated, not an image)."""
    # imdecode on the raw bytes rather than imread: imread cannot report why it failed.
    try:
        encoded = np.fromfile(path, dtype=np.uint8)
        decoded = cv2.imdecode(encoded, flags) if encoded.size else None
    except (cv2.error, OSError, ValueError) as exc:
        raise VideoError(f"{path}: not a readable image ({str(exc).strip().splitlines()[-1]})") from None
    if decoded is None or decoded.size == 0:
        reason = "empty file" if path.stat().st_size == 0 else "corrupt or truncated?"
        raise VideoError(f"{path}: not a readable image ({reason})")
    return decoded


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
    check_frame(image)
    ok, encoded = cv2.imencode(path.suffix.lower(), np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        raise VideoError(f"{path}: could not encode the image")
    with atomic_path(path) as temporary:
        temporary.write_bytes(encoded.tobytes())
    return path


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to width×height: area averaging when shrinking (no aliasing of fine texture), bilinear when
    growing. Works on anything cv2.resize accepts (uint8 or float, any channel count)."""
    if image.shape[:2] == (height, width):
        return image
    shrinking = width < image.shape[1] or height < image.shape[0]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize to size×size (aspect ratio not kept: inputs are expected to be square crops already)."""
    return resize(image, size, size)


def check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise VideoError(f"expected an (H, W, 3) uint8 RGB frame, got shape {shape} and dtype {dtype}")


def require_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")
