"""StyleGAN2 building blocks as LIA uses them, in pure PyTorch.

Equalized learning rate: parameters are stored N(0, 1) and scaled by the He constant at run time, so the
official checkpoints hold the unscaled values. Blurs are FIR filters applied by ``upfirdn2d``; their kernels
are persistent buffers named ``kernel`` because the official checkpoints contain them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEAKY_SLOPE = 0.2
#: restores the signal's variance after the leaky ReLU (StyleGAN2's "fused" activation gain).
ACTIVATION_GAIN = math.sqrt(2)


@dataclass(frozen=True)
class Variant:
    """Where the official LIA (2022) and LIA-X (2025) code build a shared block differently.

    Module names and parameter shapes decide whether an official checkpoint loads strictly, and the flow warp's
    sampling convention decides the numbers, so every block that differs takes the variant it belongs to.
    """

    #: FusedLeakyReLU's bias as (C,) (LIA-X) instead of (1, C, 1, 1) (LIA).
    flat_activation_bias: bool
    #: encoder ResBlock widens in its first conv (LIA-X: in→out, out→out) instead of its second (LIA: in→in, in→out).
    resblock_widens_first: bool
    #: name of the ToRGB/ToFlow child that upsamples the previous level's output.
    skip_upsample_name: str
    #: StyledConv holds StyleGAN2's NoiseInjection parameter (never fed noise, but present in LIA checkpoints).
    noise_injection: bool
    #: grid_sample's align_corners in the flow warp.
    flow_align_corners: bool
    #: dtype of the identity grid: LIA's official grid is a NumPy float64 linspace, LIA-X's a float32 torch one
    #: (they differ by one ulp in many entries).
    flow_grid_dtype: torch.dtype


LIA = Variant(flat_activation_bias=False, resblock_widens_first=False, skip_upsample_name="upsample",
              noise_injection=True, flow_align_corners=False, flow_grid_dtype=torch.float64)
LIA_X = Variant(flat_activation_bias=True, resblock_widens_first=True, skip_upsample_name="up",
                noise_injection=False, flow_align_corners=True, flow_grid_dtype=torch.float32)


def at_least_float32(x: Tensor) -> Tensor:
    """Half-precision tensors as float32, anything wider unchanged (float64 runs stay float64)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def make_kernel(taps: Sequence[float]) -> Tensor:
    """Separable 2-D FIR kernel from 1-D taps, normalised to sum 1."""
    kernel_1d = torch.tensor(taps, dtype=torch.float32)
    kernel = kernel_1d[None, :] * kernel_1d[:, None]
    return kernel / kernel.sum()


def upfirdn2d(x: Tensor, kernel: Tensor, up: int = 1, pad: tuple[int, int] = (0, 0)) -> Tensor:
    """Upsample by zero insertion, zero-pad, convolve with ``kernel`` (per channel).

    StyleGAN2's op also decimates; LIA never does (its downsampling convs stride instead), so that is left out.
    """
    batch, channels, height, width = x.shape
    out = x.reshape(batch * channels, 1, height, 1, width, 1)
    out = F.pad(out, (0, up - 1, 0, 0, 0, up - 1))
    out = out.reshape(batch * channels, 1, height * up, width * up)
    out = F.pad(out, (pad[0], pad[1], pad[0], pad[1]))
    # conv2d correlates; flipping makes it the convolution upfirdn2d defines.
    weight = torch.flip(kernel, [0, 1])[None, None].to(out.dtype)
    out = F.conv2d(out, weight)
    return out.reshape(batch, channels, out.shape[-2], out.shape[-1])


class Blur(nn.Module):
    """FIR low-pass; ``upsample_factor`` rescales the kernel to keep the gain after zero insertion."""

    def __init__(self, taps: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1) -> None:
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * upsample_factor**2)
        self.pad = pad

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """×2 upsampling by zero insertion and FIR filtering (the skip paths of ToRGB / ToFlow)."""

    def __init__(self, taps: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(taps) * factor**2)
        surplus = len(taps) - factor
        self.pad = ((surplus + 1) // 2 + factor - 1, surplus // 2)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


def fused_leaky_relu(x: Tensor, bias: Tensor) -> Tensor:
    # The bias follows the activations' dtype so maps stay in half precision under autocast; it is stored (C,) or
    # (1, C, 1, 1) depending on the variant and broadcast over the channel axis either way.
    channel_bias = bias.to(x.dtype).reshape(1, -1, *([1] * (x.dim() - 2)))
    return F.leaky_relu(x + channel_bias, LEAKY_SLOPE) * ACTIVATION_GAIN


class FusedLeakyReLU(nn.Module):
    """Per-channel bias, leaky ReLU, gain √2 (the layer's bias lives here, not in the conv)."""

    def __init__(self, channels: int, variant: Variant = LIA) -> None:
        super().__init__()
        shape = (channels,) if variant.flat_activation_bias else (1, channels, 1, 1)
        self.bias = nn.Parameter(torch.zeros(shape))

    def forward(self, x: Tensor) -> Tensor:
        return fused_leaky_relu(x, self.bias)


class EqualConv2d(nn.Module):
    """Equalized conv without bias: every LIA conv is followed by a biased activation or has no bias at all."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.stride = stride
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Module):
    """Equalized linear layer; ``activate`` applies the fused leaky ReLU with the layer's bias."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.scale = 1 / math.sqrt(in_features)
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        if self.activate:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias)
        return F.linear(x, self.weight * self.scale, bias=self.bias)


class ConvLayer(nn.Sequential):
    """[Blur or ×2 Upsample →] equalized conv [→ fused leaky ReLU]; child indices match the official state-dict
    names. Only LIA-X upsamples this way (its decoder's RGB branch)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, blur_taps: Sequence[float],
                 downsample: bool = False, activate: bool = True, upsample: bool = False,
                 variant: Variant = LIA) -> None:
        layers: list[nn.Module] = []
        if downsample:
            factor = 2
            surplus = (len(blur_taps) - factor) + (kernel_size - 1)
            layers.append(Blur(blur_taps, pad=((surplus + 1) // 2, surplus // 2)))
        elif upsample:
            layers.append(Upsample(blur_taps))
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride=2 if downsample else 1,
                                  padding=0 if downsample else kernel_size // 2))
        if activate:
            layers.append(FusedLeakyReLU(out_channels, variant))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Two 3×3 convs (the second one downsampling) plus a 1×1 downsampling skip, averaged to keep variance."""

    def __init__(self, in_channels: int, out_channels: int, blur_taps: Sequence[float],
                 variant: Variant = LIA) -> None:
        super().__init__()
        middle = out_channels if variant.resblock_widens_first else in_channels
        self.conv1 = ConvLayer(in_channels, middle, 3, blur_taps, variant=variant)
        self.conv2 = ConvLayer(middle, out_channels, 3, blur_taps, downsample=True, variant=variant)
        self.skip = ConvLayer(in_channels, out_channels, 1, blur_taps, downsample=True, activate=False,
                              variant=variant)

    def forward(self, x: Tensor) -> Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)
