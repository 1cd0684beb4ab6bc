"""Nearest-neighbour rescaling of (B, C, D, H, W) videos, as the official code does it everywhere."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def nearest_rescale(video: Tensor, scale_factor: float) -> Tensor:
    """Rescale H and W by ``scale_factor`` keeping pixel floor(i / s): no anti-aliasing, as trained."""
    if scale_factor == 1:
        return video
    return F.interpolate(video, scale_factor=(1, scale_factor, scale_factor))
