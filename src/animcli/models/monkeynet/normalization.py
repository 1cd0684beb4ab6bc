"""Monkey-Net's keypoint normalisation for motion transfer (the official ``normalize_kp``).

Relative mode (``move_location``) moves the source keypoints by the driving displacement since the first
driving frame, optionally scaled by the keypoint-spread ratio (``movement_mult``) and clamped to the image
(``clip_mean``); absolute mode keeps the driving keypoints. Covariances stay the driving frame's own in both
modes unless ``adapt_variance`` transfers their change relative to the first frame onto the source's.
"""

from __future__ import annotations

import torch
from torch import Tensor

from animcli.models.base import Motion
from animcli.models.keypoint_transfer import hull_scale

# Eigenvalues of an adapted covariance that come out non-positive are replaced by this.
MIN_ADAPTED_EIGENVALUE = 1e-6


def normalize_kp(kp_source: Motion, kp_driving: Motion, kp_initial: Motion, relative: bool,
                 movement_mult: bool = False, clip_mean: bool = False,
                 adapt_variance: bool = False) -> Motion:
    """Keypoints to render for each driving frame; kp_source and kp_initial (the first driving frame's)
    have batch 1."""
    kp_new = dict(kp_driving)
    if relative:
        scale = hull_scale(kp_source["mean"], kp_initial["mean"]) if movement_mult else 1.0
        kp_new["mean"] = (kp_driving["mean"] - kp_initial["mean"]) * scale + kp_source["mean"]
        if clip_mean:
            kp_new["mean"] = kp_new["mean"].clamp(-1, 1)
    if adapt_variance and "var" in kp_driving:
        kp_new["var"] = adapted_covariance(kp_driving["var"], kp_initial["var"], kp_source["var"])
    return kp_new


def adapted_covariance(var_driving: Tensor, var_initial: Tensor, var_source: Tensor) -> Tensor:
    """Σ_t · Σ_0⁻¹ · Σ_src, projected back onto symmetric positive-definite matrices (in float64)."""
    product = var_driving.double() @ torch.linalg.inv(var_initial.double()) @ var_source.double()
    symmetric = (product + product.transpose(-1, -2)) / 2
    eigenvalues, eigenvectors = torch.linalg.eigh(symmetric)
    floor = torch.full_like(eigenvalues, MIN_ADAPTED_EIGENVALUE)
    eigenvalues = torch.where(eigenvalues <= 0, floor, eigenvalues)
    recomposed = eigenvectors @ torch.diag_embed(eigenvalues) @ eigenvectors.transpose(-1, -2)
    return recomposed.to(var_driving.dtype)
