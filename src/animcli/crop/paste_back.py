"""Blend an animated crop back into the full-resolution source image (LivePortrait-style paste-back)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from animcli.crop.boxes import CropBox
from animcli.media import resize_square

# Width of the soft edge, as a fraction of the crop side.
DEFAULT_FEATHER = 0.12


def paste_back(full_source: np.ndarray, animated_crop: np.ndarray, box: CropBox,
               feather: float = DEFAULT_FEATHER) -> np.ndarray:
    """`full_source` with `animated_crop` (the model's output for the crop `box` of it) blended in.

    The crop fades out towards its border (so no seam) and is shifted in colour to agree with the source
    along that fading band (generators drift slightly in colour). Pixels outside the box are untouched.
    """
    height, width = full_source.shape[:2]
    animated = resize_square(animated_crop, box.side)
    left, top = max(box.x, 0), max(box.y, 0)
    right, bottom = min(box.x + box.side, width), min(box.y + box.side, height)
    if right <= left or bottom <= top:
        return full_source.copy()
    inside = (slice(top - box.y, bottom - box.y), slice(left - box.x, right - box.x))
    region = full_source[top:bottom, left:right].astype(np.float32)
    patch = animated[inside].astype(np.float32)
    mask = feather_mask(box.side, feather)[inside][..., None]
    patch = _match_colours(patch, region, mask)
    blended = full_source.copy()
    mixed = region + mask * (patch - region)
    blended[top:bottom, left:right] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return blended


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


def _match_colours(patch: np.ndarray, region: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift `patch` per channel by its mean difference from `region` where the two are blended."""
    band = mask * (1.0 - mask)
    weight = float(band.sum())
    if weight < 1e-6:
        return patch
    offset = ((region - patch) * band).sum(axis=(0, 1)) / weight
    return patch + offset
