"""FOMM multi-scale patch discriminator (used by the -adv configs' GAN and feature-matching losses)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animcli.models.blocks import kp2gaussian, level_features


def _maybe_spectral(conv: nn.Conv2d, sn: bool) -> nn.Module:
    # The legacy hook-based API keeps the official state-dict names (weight_orig, weight_u, weight_v).
    return nn.utils.spectral_norm(conv) if sn else conv


class DiscriminatorDownBlock(nn.Module):
    """4×4 valid conv (optionally spectral-normed) → InstanceNorm → LeakyReLU(0.2) → optional 2×2 avg pool."""

    def __init__(self, in_features: int, out_features: int, norm: bool = False, kernel_size: int = 4,
                 pool: bool = False, sn: bool = False) -> None:
        super().__init__()
        self.conv = _maybe_spectral(nn.Conv2d(in_features, out_features, kernel_size=kernel_size), sn)
        self.norm = nn.InstanceNorm2d(out_features, affine=True) if norm else None
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        return F.avg_pool2d(out, (2, 2)) if self.pool else out


class Discriminator(nn.Module):
    def __init__(self, num_channels: int = 3, block_expansion: int = 64, num_blocks: int = 4,
                 max_features: int = 512, sn: bool = False, use_kp: bool = False, num_kp: int = 10,
                 kp_variance: float = 0.01, **_ignored: Any) -> None:
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DiscriminatorDownBlock(
                num_channels + num_kp * use_kp if i == 0 else level_features(block_expansion, i, max_features),
                level_features(block_expansion, i + 1, max_features),
                norm=(i != 0), kernel_size=4, pool=(i != num_blocks - 1), sn=sn)
            for i in range(num_blocks)
        )
        self.conv = _maybe_spectral(
            nn.Conv2d(self.down_blocks[-1].conv.out_channels, 1, kernel_size=1), sn)
        self.use_kp = use_kp
        self.kp_variance = kp_variance

    def forward(self, x: Tensor, kp: dict[str, Tensor] | None = None) -> tuple[list[Tensor], Tensor]:
        out = x
        if self.use_kp:
            heatmap = kp2gaussian(kp["value"], tuple(x.shape[2:]), self.kp_variance).to(x.dtype)
            out = torch.cat([out, heatmap], dim=1)
        feature_maps = []
        for block in self.down_blocks:
            out = block(out)
            feature_maps.append(out)
        return feature_maps, self.conv(out)


class MultiScaleDiscriminator(nn.Module):
    """One discriminator per image-pyramid scale, keyed ``str(scale)`` with '.' → '-' (0.5 → '0-5')."""

    def __init__(self, scales: tuple[float, ...] = (1,), **kwargs: Any) -> None:
        super().__init__()
        self.scales = scales
        self.discs = nn.ModuleDict({str(scale).replace(".", "-"): Discriminator(**kwargs) for scale in scales})

    def forward(self, x: dict[str, Tensor], kp: dict[str, Tensor] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, disc in self.discs.items():
            scale = key.replace("-", ".")
            feature_maps, prediction_map = disc(x[f"prediction_{scale}"], kp)
            out[f"feature_maps_{scale}"] = feature_maps
            out[f"prediction_map_{scale}"] = prediction_map
        return out
