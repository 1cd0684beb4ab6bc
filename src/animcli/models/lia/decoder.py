"""LIA's flow decoder (``Synthesis``): a StyleGAN2 generator whose layers predict flows instead of pixels.

At every resolution from 8×8 up, a ToFlow head predicts a flow field and an occlusion mask from the styled
feature map, warps the source's encoder features with it and blends them back into the decoder's map; a ToRGB
head turns the warped features into the image, accumulated across resolutions as in StyleGAN2's skip
generator. Every layer is styled with the same latent (appearance code + motion directions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animcli.models import blocks
from animcli.models.blocks import float32_region
from animcli.models.lia.architecture import LiaArchitecture
from animcli.models.lia.direction import Direction
from animcli.models.lia.layers import (
    LIA,
    Blur,
    ConvLayer,
    EqualLinear,
    FusedLeakyReLU,
    Upsample,
    Variant,
    at_least_float32,
)

DEMODULATION_EPS = 1e-8


class ModulatedConv2d(nn.Module):
    """Conv whose weights are scaled per input channel by the style (and demodulated), one kernel per sample."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 blur_taps: Sequence[float], demodulate: bool = True, upsample: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1)
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        self.demodulate = demodulate
        self.upsample = upsample
        if upsample:
            factor = 2
            surplus = (len(blur_taps) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_taps, pad=((surplus + 1) // 2 + factor - 1, surplus // 2 + 1),
                             upsample_factor=factor)

    def styles(self, style: Tensor) -> tuple[Tensor, Tensor | None]:
        """Per-sample input-channel scales (B, in) and demodulation factors (B, out) (None without
        demodulation), in float32: the demodulation norm is a sum of squares."""
        with float32_region(style):
            channel_scales = self.modulation(at_least_float32(style))
            if not self.demodulate:
                return channel_scales, None
            # |scale·W[o]·s|² summed over inputs and taps = Σ_i s_i² · Σ_taps (scale·W[o, i])².
            weight_energy = (self.scale * self.weight[0]).pow(2).sum([2, 3])  # out, in
            demodulation = torch.rsqrt(channel_scales.pow(2) @ weight_energy.t() + DEMODULATION_EPS)
        return channel_scales, demodulation

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        # Modulating the kernel per sample equals scaling the input channels, convolving with the shared kernel
        # and scaling the output channels: one ordinary batched conv instead of a grouped conv over per-sample
        # kernels (fewer FLOPs, static weights an exporter can fold, fast kernels on every backend).
        channel_scales, demodulation = self.styles(style)
        x = x * channel_scales[:, :, None, None].to(x.dtype)
        weight = (self.scale * self.weight[0]).to(x.dtype)
        if self.upsample:
            out = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if demodulation is not None:
            out = out * demodulation[:, :, None, None].to(out.dtype)
        return out


class NoiseInjection(nn.Module):
    """StyleGAN2's per-layer noise strength; LIA never feeds noise, but its checkpoints hold the parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))


class StyledConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 blur_taps: Sequence[float], upsample: bool = False, variant: Variant = LIA) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, style_dim, blur_taps,
                                    upsample=upsample)
        if variant.noise_injection:
            self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels, variant)

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        return self.activate(self.conv(x, style))


class ToRGB(nn.Module):
    """Unmodulated 1×1 conv (with the fused activation) to RGB, plus the upsampled RGB of the level below."""

    def __init__(self, in_channels: int, blur_taps: Sequence[float], upsample: bool = True,
                 variant: Variant = LIA) -> None:
        super().__init__()
        self.skip_upsample_name = variant.skip_upsample_name
        if upsample:
            self.add_module(self.skip_upsample_name, Upsample(blur_taps))
        self.conv = ConvLayer(in_channels, 3, 1, blur_taps, variant=variant)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        out = self.conv(x) + self.bias.to(x.dtype)
        if skip is not None:
            out = out + self.get_submodule(self.skip_upsample_name)(skip)
        return out


def linspace_grid(size: int, like: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
    """(size, size, 2) grid of (x, y) = linspace(-1, 1) pairs, built in ``dtype`` (the official code's)."""
    lin = torch.linspace(-1, 1, size, dtype=dtype, device=like.device)
    return torch.stack([lin[None, :].expand(size, size), lin[:, None].expand(size, size)], dim=-1).to(like.dtype)


class ToFlow(nn.Module):
    """Predicts flow logits (2 offset channels + 1 mask channel), warps ``feat`` and blends it into ``x``."""

    def __init__(self, in_channels: int, style_dim: int, blur_taps: Sequence[float], variant: Variant = LIA) -> None:
        super().__init__()
        self.variant = variant
        self.add_module(variant.skip_upsample_name, Upsample(blur_taps))
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, blur_taps, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: Tensor, style: Tensor, feat: Tensor, skip: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        """(warped features, blended map for the next layer, flow logits for the next level's skip)."""
        # Flow logits accumulate over all levels and set sub-pixel sampling positions: kept in float32
        # (a 3-channel 1×1 conv, cheap next to the styled convs).
        with float32_region(x):
            logits = self.conv(at_least_float32(x), style) + self.bias
            if skip is not None:
                logits = logits + self.get_submodule(self.variant.skip_upsample_name)(skip)
        offset = torch.tanh(logits[:, 0:2]).permute(0, 2, 3, 1)
        mask = torch.sigmoid(logits[:, 2:3]).to(x.dtype)
        # LIA: align_corners=False on a linspace(-1, 1) grid stretches by H/(H-1); the published models were
        # trained with exactly this sampling, so it is reproduced, not corrected (LIA-X samples with True).
        grid = offset + linspace_grid(x.shape[-2], like=offset, dtype=self.variant.flow_grid_dtype)
        warped = blocks.grid_sample(feat, grid, align_corners=self.variant.flow_align_corners) * mask
        return warped, warped + x * (1 - mask), logits


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> Tensor:
        return self.input.repeat(batch, 1, 1, 1)


class Synthesis(nn.Module):
    """Latent (B, D) + source features [8×8 … S×S] → image (B, 3, S, S) in [-1, 1] (unclamped)."""

    def __init__(self, arch: LiaArchitecture) -> None:
        super().__init__()
        style_dim, taps, channels = arch.style_dim, arch.blur_kernel, arch.channels_at
        self.direction = Direction(style_dim, arch.motion_dim)
        self.input = ConstantInput(channels(4))
        self.conv1 = StyledConv(channels(4), channels(4), 3, style_dim, taps)
        # Built by the official code but never called; kept so official checkpoints load strictly.
        self.to_rgb1 = ToRGB(channels(4), taps, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.to_flows = nn.ModuleList()
        for resolution in arch.resolutions(8):
            self.convs.append(StyledConv(channels(resolution // 2), channels(resolution), 3, style_dim, taps,
                                         upsample=True))
            self.convs.append(StyledConv(channels(resolution), channels(resolution), 3, style_dim, taps))
            self.to_rgbs.append(ToRGB(channels(resolution), taps))
            self.to_flows.append(ToFlow(channels(resolution), style_dim, taps))

    def latent(self, wa: Tensor, alpha_driving: Tensor | None = None, alpha_start: Tensor | None = None,
               alpha_source: Tensor | None = None) -> Tensor:
        """The style every layer receives (see ``Direction.navigate``)."""
        return self.direction.navigate(wa, alpha_driving, alpha_start, alpha_source)

    def render(self, latent: Tensor, feats: Sequence[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """Image and the flow logits of every level (low to high resolution)."""
        x = self.conv1(self.input(latent.shape[0]), latent)
        rgb: Tensor | None = None
        logits: Tensor | None = None
        flow_logits = []
        for level, (feat, to_flow, to_rgb) in enumerate(zip(feats, self.to_flows, self.to_rgbs, strict=True)):
            x = self.convs[2 * level](x, latent)
            x = self.convs[2 * level + 1](x, latent)
            warped, x, logits = to_flow(x, latent, feat, logits)
            rgb = to_rgb(warped, rgb)
            flow_logits.append(logits)
        assert rgb is not None
        return rgb, flow_logits

    def forward(self, latent: Tensor, feats: Sequence[Tensor]) -> Tensor:
        return self.render(latent, feats)[0]
