"""Still images: reading and writing (OpenCV), and the one resize rule every command uses.

Frames are (H, W, 3) uint8 RGB arrays; outputs are written atomically (``files.atomic_path``).
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from animcli.common.errors import VideoError
from animcli.common.files import atomic_path, note_input

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
#: Images (and video frames) with more pixels than this are refused from their header, before anything is decoded:
#: a small file can declare a huge image (a "decompression bomb": 30000×30000 is 2.7 GB decoded). 100 megapixels
#: covers every camera's full-resolution photo but the 108/200 MP modes; ``--max-pixels`` or the environment
#: variable raise (or lower) it.
DEFAULT_MAX_PIXELS = 100_000_000
MAX_PIXELS_ENV = "ANIMCLI_MAX_PIXELS"
_max_pixels: int | None = None


@contextlib.contextmanager
def pixel_limit(limit: int | None) -> Iterator[None]:
    """Inside the block, images and frames over ``limit`` pixels are refused (None: the default or environment)."""
    global _max_pixels
    previous, _max_pixels = _max_pixels, limit
    try:
        yield
    finally:
        _max_pixels = previous


def pixel_limit_set() -> int | None:
    """The limit ``pixel_limit`` set for this block (None: the default or environment applies)."""
    return _max_pixels


def max_pixels() -> int:
    if _max_pixels is not None:
        return _max_pixels
    configured = os.environ.get(MAX_PIXELS_ENV, "").strip()
    try:
        return int(float(configured)) if configured else DEFAULT_MAX_PIXELS
    except ValueError:
        raise VideoError(f"{MAX_PIXELS_ENV}={configured!r} is not a number of pixels") from None


def check_pixels(width: int, height: int, what: object) -> None:
    """Refuse a ``width``×``height`` image (or frame, or output) over the pixel limit, in one line."""
    limit = max_pixels()
    if width * height > limit:
        raise VideoError(f"{what}: {width}x{height} is {width * height / 1e6:.4g} megapixels, over the limit of "
                         f"{limit / 1e6:.4g} (--max-pixels N or {MAX_PIXELS_ENV} raises it)")


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
    size = header_size(path)
    if size is not None:
        check_pixels(*size, path)
    return _to_rgb8(decode_image(path, flags))


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) as a PNG, JPEG, WebP or BMP header declares it, read without decoding; None when the
    header is not one of those (decoding then says what is wrong)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head.startswith(b"BM") and len(head) >= 26:
                width, height = struct.unpack("<ii", head[18:26])
                return abs(width), abs(height)
            if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
                return _webp_size(head)
            if head.startswith(b"\xff\xd8"):
                handle.seek(2)
                return _jpeg_size(handle)
    except (OSError, struct.error):
        return None
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


#: JPEG start-of-frame markers (the ones that are not DHT, JPG or DAC).
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(handle: IO[bytes]) -> tuple[int, int] | None:
    """Walk the JPEG segments up to the start of frame, which holds the image's size."""
    for _ in range(1000):  # a real header has a few dozen segments
        marker = handle.read(2)
        while len(marker) == 2 and marker[0] == 0xFF and marker[1] == 0xFF:  # fill bytes
            marker = marker[1:] + handle.read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        (length,) = struct.unpack(">H", handle.read(2))
        if marker[1] in _SOF_MARKERS:
            height, width = struct.unpack(">xHH", handle.read(5))
            return width, height
        handle.seek(length - 2, os.SEEK_CUR)
    return None


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
    if decoded.dtype == np.uint8 and decoded.ndim == 3 and decoded.shape[2] == 3:  # the common case, in place
        return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB, dst=decoded)
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
