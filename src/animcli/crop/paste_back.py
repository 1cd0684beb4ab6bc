"""Blend animated crops back into the full-resolution picture they were cut from (LivePortrait-style paste-back).

One face or many: every crop fades out towards its border (a smoothstep over ``feather`` of its side, exactly 0
on its outermost pixels, so no box edge shows) and is brought to the picture's colours where it is blended in
(``feather``: shifted by its mean difference along the fading band; ``poisson``: OpenCV's ``seamlessClone``
solves for colours whose gradients are the crop's and whose border values are the picture's). Pixels outside
every crop square are never touched.

Several faces are pasted in order of size, smallest first, so that a nearer (larger) face covers a farther one
where they overlap; but a larger crop does not paint over the *head* of a smaller face it happens to include —
its weight fades out over that head (a soft ellipse inside the detector's head box), except where its own head
is. The weights are products of smooth maps, so no square edge appears anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import cv2
import numpy as np

from animcli.common.choices import Blend
from animcli.crop.boxes import Box
from animcli.media import resize_square

# Width of the soft edge, as a fraction of the crop side.
DEFAULT_FEATHER = 0.12
#: a head's own region (overlaps of several faces): weight 1 inside this fraction of its ellipse's radius …
HEAD_CORE = 0.85
#: … and 0 beyond this one.
HEAD_EDGE = 1.15
#: contours of the paste weight the seam is measured across: the crop's outer edge, the fading band, its inner edge.
SEAM_LEVELS = (0.0, 0.25, 0.5, 0.75, 0.999)


class Square(Protocol):
    """Where a crop was cut: a square of side ``side`` with its top-left corner at (x, y), in pixels of the
    picture (``CropBox``: whole pixels; a ``TrackedSegment``'s frame: sub-pixel)."""

    @property
    def x(self) -> float: ...

    @property
    def y(self) -> float: ...

    @property
    def side(self) -> float: ...


@dataclass(frozen=True)
class SquareAt:
    """A square at a sub-pixel position (a crop that follows a face)."""

    x: float
    y: float
    side: float


def paste_back(full_source: np.ndarray, animated_crop: np.ndarray, box: Square,
               feather: float = DEFAULT_FEATHER, blend: Blend = "feather") -> np.ndarray:
    """`full_source` with `animated_crop` (the model's output for the crop `box` of it) blended in.

    The crop fades out towards its border (so no seam) and is shifted in colour to agree with the source
    along that fading band (generators drift slightly in colour). Pixels outside the box are untouched.
    """
    return FacePaster(full_source.shape, [box], blend=blend, feather=feather).paste(full_source, [animated_crop])


@dataclass
class _Face:
    square: Square
    rows: slice
    cols: slice
    own: np.ndarray  # (h, w) the crop's feathered square over its region
    weight: np.ndarray  # (h, w) what it is blended with, after yielding to smaller faces' heads


class FacePaster:
    """Pastes one animated crop per square into pictures of ``shape``; the blend weights are computed once.

    ``heads`` (the detector's head box of each face, picture pixels) let overlapping faces yield to each other's
    heads; without them the squares are simply pasted in order of size.
    """

    def __init__(self, shape: tuple[int, ...], squares: Sequence[Square], heads: Sequence[Box] | None = None,
                 blend: Blend = "feather", feather: float = DEFAULT_FEATHER) -> None:
        if blend not in ("feather", "poisson"):
            raise ValueError(f"unknown blend {blend!r}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.blend = blend
        heads = list(heads) if heads is not None else [None] * len(squares)
        # Smallest first: a larger (nearer) face is pasted over a smaller one.
        self.order = sorted(range(len(squares)), key=lambda index: (squares[index].side, index))
        self.faces: dict[int, _Face] = {}
        for position, index in enumerate(self.order):
            square = squares[index]
            rows, cols = _region(square, self.shape)
            own = _feather_weight(square, rows, cols, feather)
            weight = own
            head = heads[index]
            for earlier in self.order[:position]:
                other = heads[earlier]
                if other is None:
                    continue
                theirs = _head_weight(other, rows, cols)
                mine = 0.0 if head is None else _head_weight(head, rows, cols)
                weight = weight * (1 - theirs * (1 - mine))
            self.faces[index] = _Face(square, rows, cols, own, weight.astype(np.float32))
        self.window = _bounding(list(self.faces.values()), self.shape)

    def weight_map(self, index: int | None = None) -> np.ndarray:
        """(H, W) how much of the result comes from the crops (0: the picture's own pixels), or with ``index``
        from crop ``index`` alone (what the crops pasted after it leave of it)."""
        kept = np.ones(self.shape, np.float32)
        share = np.zeros(self.shape, np.float32)
        for position in self.order:
            face = self.faces[position]
            if position == index:
                share[face.rows, face.cols] = face.weight
            else:
                share[face.rows, face.cols] *= 1 - face.weight
            kept[face.rows, face.cols] *= 1 - face.weight
        return 1 - kept if index is None else share

    def paste(self, picture: np.ndarray, crops: Sequence[np.ndarray]) -> np.ndarray:
        """``picture`` (H, W, 3) uint8 with ``crops[i]`` (any square size, uint8) blended into square ``i``."""
        if picture.shape[:2] != self.shape:
            raise ValueError(f"picture of {picture.shape[1]}x{picture.shape[0]}, expected "
                             f"{self.shape[1]}x{self.shape[0]}")
        if len(crops) != len(self.faces):
            raise ValueError(f"{len(crops)} crops for {len(self.faces)} squares")
        result = picture.copy()
        if self.window is None:
            return result
        top, left = self.window[0].start, self.window[1].start
        canvas = picture[self.window].astype(np.float32)
        for index in self.order:
            face = self.faces[index]
            local = (slice(face.rows.start - top, face.rows.stop - top),
                     slice(face.cols.start - left, face.cols.stop - left))
            region = canvas[local]
            patch = _placed(crops[index], face.square, face.rows, face.cols).astype(np.float32)
            if self.blend == "poisson":
                patch = _poisson(patch, region, face.weight)
            else:
                patch = _match_colours(patch, region, face.own[..., None])
            canvas[local] = region + face.weight[..., None] * (patch - region)
        result[self.window] = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
        return result


def seam_step(original: np.ndarray, result: np.ndarray, weight: np.ndarray,
              levels: Sequence[float] = SEAM_LEVELS) -> float:
    """How much more ``result`` changes across the paste boundary than ``original`` does there, in grey levels.

    For each contour of the paste ``weight`` (``FacePaster.weight_map``) at ``levels`` — the crops' outer edge,
    the fading band, its inner edge — the mean absolute difference between 4-neighbour pixels on the two sides of
    the contour in the result, minus the same in the original (the picture's own local variation there); the
    largest over the contours. A seam, a box edge or a colour step shows as a positive value; 1 grey level or
    less is invisible.
    """
    steps = []
    ours, theirs = result.astype(np.float32), original.astype(np.float32)
    for level in levels:
        pairs = []
        for axis in (0, 1):
            inside = weight > level
            a = [slice(None), slice(None)]
            b = [slice(None), slice(None)]
            a[axis], b[axis] = slice(None, -1), slice(1, None)
            crossing = inside[tuple(a)] != inside[tuple(b)]
            if crossing.any():
                pairs.append((np.abs(ours[tuple(a)] - ours[tuple(b)])[crossing].mean(axis=-1),
                              np.abs(theirs[tuple(a)] - theirs[tuple(b)])[crossing].mean(axis=-1)))
        if pairs:
            steps.append(float(np.concatenate([p[0] for p in pairs]).mean() -
                               np.concatenate([p[1] for p in pairs]).mean()))
    return max(steps, default=0.0)


# ----------------------------------------------------------------------------------------------- weights


def _integral(square: Square) -> bool:
    return all(float(value).is_integer() for value in (square.x, square.y, square.side))


def _region(square: Square, shape: tuple[int, int]) -> tuple[slice, slice]:
    """The picture's rows and columns the square covers (clipped to the picture)."""
    height, width = shape
    top, left = max(math.floor(square.y), 0), max(math.floor(square.x), 0)
    bottom = min(math.ceil(square.y + square.side), height)
    right = min(math.ceil(square.x + square.side), width)
    return slice(top, max(bottom, top)), slice(left, max(right, left))


def _feather_weight(square: Square, rows: slice, cols: slice, feather: float) -> np.ndarray:
    """The square's feather mask over its region: ``feather_mask`` at the square's position (sub-pixel too)."""
    if _integral(square):
        mask = feather_mask(int(square.side), feather)
        return mask[rows.start - int(square.y):rows.stop - int(square.y),
                    cols.start - int(square.x):cols.stop - int(square.x)]
    band = max(feather * square.side, 1.0)

    def ramp(positions: np.ndarray, start: float) -> np.ndarray:
        offset = positions - start
        distance = np.minimum(offset, square.side - 1 - offset)
        value = np.clip(distance / band, 0.0, 1.0)
        return (value * value * (3 - 2 * value)).astype(np.float32)

    vertical = ramp(np.arange(rows.start, rows.stop, dtype=np.float64), square.y)
    horizontal = ramp(np.arange(cols.start, cols.stop, dtype=np.float64), square.x)
    return np.minimum(vertical[:, None], horizontal[None, :])


@lru_cache(maxsize=8)
def feather_mask(side: int, feather: float) -> np.ndarray:
    """A side×side weight map: 1 in the middle, easing (smoothstep) to exactly 0 on the outermost pixels."""
    distance = np.minimum(np.arange(side), np.arange(side)[::-1]).astype(np.float32)
    band = max(feather * side, 1.0)
    ramp = np.clip(distance / band, 0.0, 1.0)
    ramp = ramp * ramp * (3 - 2 * ramp)
    mask = np.minimum(ramp[:, None], ramp[None, :])
    mask.setflags(write=False)
    return mask


def _head_weight(head: Box, rows: slice, cols: slice) -> np.ndarray:
    """A soft ellipse inscribed in ``head``: 1 inside ``HEAD_CORE`` of its radius, 0 beyond ``HEAD_EDGE``."""
    ys = (np.arange(rows.start, rows.stop) + 0.5 - (head.top + head.bottom) / 2) / max(head.height / 2, 1e-6)
    xs = (np.arange(cols.start, cols.stop) + 0.5 - (head.left + head.right) / 2) / max(head.width / 2, 1e-6)
    radius = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    value = np.clip((HEAD_EDGE - radius) / (HEAD_EDGE - HEAD_CORE), 0.0, 1.0)
    return (value * value * (3 - 2 * value)).astype(np.float32)


def _bounding(faces: list[_Face], shape: tuple[int, int]) -> tuple[slice, slice] | None:
    faces = [face for face in faces if face.rows.stop > face.rows.start and face.cols.stop > face.cols.start]
    if not faces:
        return None
    return (slice(min(f.rows.start for f in faces), max(f.rows.stop for f in faces)),
            slice(min(f.cols.start for f in faces), max(f.cols.stop for f in faces)))


# ----------------------------------------------------------------------------------------------- pixels


def _placed(crop: np.ndarray, square: Square, rows: slice, cols: slice) -> np.ndarray:
    """The crop resampled onto the picture's pixels of the square's region."""
    if _integral(square):
        animated = resize_square(crop, int(square.side))
        return animated[rows.start - int(square.y):rows.stop - int(square.y),
                        cols.start - int(square.x):cols.stop - int(square.x)]
    # The inverse of crop.track.crop_subpixel: crop pixel u lies at picture position x + u · side / size.
    scale = square.side / crop.shape[0]
    matrix = np.float32([[scale, 0, square.x - cols.start], [0, scale, square.y - rows.start]])
    return cv2.warpAffine(crop, matrix, (cols.stop - cols.start, rows.stop - rows.start), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _match_colours(patch: np.ndarray, region: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift `patch` per channel by its mean difference from `region` where the two are blended."""
    band = mask * (1.0 - mask)
    weight = float(band.sum())
    if weight < 1e-6:
        return patch
    offset = ((region - patch) * band).sum(axis=(0, 1)) / weight
    return patch + offset


def _poisson(patch: np.ndarray, region: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The patch's gradients with the region's values along the border of where it is pasted (seamlessClone's
    normal clone, solved over the region only)."""
    mask = np.where(weight > 0, 255, 0).astype(np.uint8)
    mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = 0  # what seamlessClone does to its mask anyway
    x, y, width, height = cv2.boundingRect(mask)
    if width < 3 or height < 3:
        return patch
    # seamlessClone centres the mask's bounding box on this point (integer halves): this keeps it in place.
    centre = (x + width // 2, y + height // 2)
    source = np.clip(np.rint(patch), 0, 255).astype(np.uint8)
    target = np.clip(np.rint(region), 0, 255).astype(np.uint8)
    cloned = cv2.seamlessClone(source, target, mask, centre, cv2.NORMAL_CLONE)
    return cloned.astype(np.float32)
