"""Motion transfer between keypoint sets: relative vs absolute, scale adaptation, pose comparison.

Relative transfer moves the source's keypoints by the driving video's displacement since its first frame
(optionally scaled by the ratio of source to driving keypoint spread); absolute transfer uses the driving
keypoints as they are. The convex-hull areas are computed in float64 on the batch-0 keypoints, like the
official code (scipy's ConvexHull there, OpenCV's here).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

from animcli.common.errors import ModelError
from animcli.models.base import Motion
from animcli.models.blocks import float32_region

#: a hull whose area is below this fraction of its bounding square is a line (or a point) up to float rounding:
#: dividing by its square root would blow the result up rather than measure a spread.
DEGENERATE_AREA = 1e-6
#: float32 keypoints carry rounding of about |x|·eps each, so points on one line away from the origin span a hull
#: of about extent·|x|·eps from rounding alone: areas below this many times that are a line too.
ROUNDING_AREA = 64 * float(np.finfo(np.float32).eps)


def spread_area(points: Tensor) -> float:
    """Area of the convex hull of (K, 2) points; 0 when they are coincident, collinear or not finite."""
    pts = points.detach().double().cpu().numpy().reshape(-1, 2)
    if len(pts) < 3 or not np.isfinite(pts).all():
        return 0.0
    extent = float(np.ptp(pts, axis=0).max())
    if extent == 0.0:  # all in one place (OpenCV's hull of a single point has no area to ask for)
        return 0.0
    area = float(cv2.contourArea(cv2.convexHull(pts.astype(np.float32)[:, None])))
    noise = max(DEGENERATE_AREA * extent**2, ROUNDING_AREA * extent * float(np.abs(pts).max()))
    return area if area > noise else 0.0


def hull_area(points: Tensor) -> float:
    """Area of the convex hull of (K, 2) points, refusing degenerate sets."""
    area = spread_area(points)
    if area == 0.0:
        raise ModelError("keypoints are coincident or collinear, so their spread cannot be measured "
                         "(use --no-adapt-scale)")
    return area


def hull_scale(kp_source_value: Tensor, kp_initial_value: Tensor) -> float:
    """sqrt(hull area of the source keypoints) / sqrt(hull area of the first driving frame's keypoints)."""
    return float(np.sqrt(hull_area(kp_source_value[0])) / np.sqrt(hull_area(kp_initial_value[0])))


def normalize_kp(kp_source: Motion, kp_driving: Motion, kp_initial: Motion, relative: bool,
                 relative_jacobian: bool, adapt_scale: bool) -> Motion:
    """FOMM's ``normalize_kp`` for a batch of driving frames (kp_source / kp_initial have batch 1)."""
    kp_new = dict(kp_driving)
    if not relative:
        return kp_new
    scale = hull_scale(kp_source["value"], kp_initial["value"]) if adapt_scale else 1.0
    kp_new["value"] = (kp_driving["value"] - kp_initial["value"]) * scale + kp_source["value"]
    if relative_jacobian and "jacobian" in kp_driving:
        with float32_region(kp_driving["jacobian"]):
            jacobian_diff = kp_driving["jacobian"].float() @ torch.inverse(kp_initial["jacobian"].float())
            kp_new["jacobian"] = jacobian_diff @ kp_source["jacobian"].float()
    return kp_new


def normalized_pose(kp_value: Tensor) -> Tensor:
    """(B, K, 2) keypoints centred and divided by sqrt(hull area), so poses compare across scales; a degenerate
    pose (no spread) comes out as infinity, so it never wins a comparison."""
    centred = kp_value - kp_value.mean(dim=1, keepdim=True)
    areas = torch.tensor([spread_area(points) for points in kp_value], dtype=kp_value.dtype,
                         device=kp_value.device)
    roots = areas.sqrt()[:, None, None]
    return torch.where(roots > 0, centred / roots.clamp_min(1e-12), torch.full_like(centred, torch.inf))


def pose_distance(kp_source_value: Tensor, kp_driving_value: Tensor) -> Tensor:
    """(B,) sum of squared differences of normalised poses (the official best-frame criterion); infinite for a
    degenerate pose."""
    difference = normalized_pose(kp_driving_value) - normalized_pose(kp_source_value)
    return torch.nan_to_num(difference, nan=torch.inf).pow(2).sum(dim=(1, 2))
