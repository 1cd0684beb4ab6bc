"""LIA's discriminator (training only): StyleGAN2's ResNet discriminator with a minibatch-stddev feature."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from animcli.models.lia.architecture import LiaArchitecture
from animcli.models.lia.layers import ConvLayer, EqualLinear, ResBlock

STDDEV_GROUP = 4
STDDEV_EPS = 1e-8


def minibatch_stddev(x: Tensor, group_size: int = STDDEV_GROUP) -> Tensor:
    """Append one channel: the feature spread across samples of a group (lets D see a lack of variety).

    Sample b belongs to group set b mod (B / G); the batch must be divisible by G = min(B, group_size).
    """
    batch, channels, height, width = x.shape
    group = min(batch, group_size)
    grouped = x.reshape(group, -1, 1, channels, height, width)
    stddev = torch.sqrt(grouped.var(0, unbiased=False) + STDDEV_EPS)
    stddev = stddev.mean([2, 3, 4], keepdim=True).squeeze(2)
    return torch.cat([x, stddev.repeat(group, 1, height, width)], dim=1)


class Discriminator(nn.Module):
    """Image (B, 3, S, S) in [-1, 1] → realness logit (B, 1)."""

    def __init__(self, arch: LiaArchitecture) -> None:
        super().__init__()
        channels, taps = arch.channels_at, arch.blur_kernel
        stages: list[nn.Module] = [ConvLayer(3, channels(arch.size), 1, taps)]
        stages += [ResBlock(channels(high), channels(high // 2), taps) for high in arch.resolutions(8)[::-1]]
        self.convs = nn.Sequential(*stages)
        self.final_conv = ConvLayer(channels(4) + 1, channels(4), 3, taps)
        self.final_linear = nn.Sequential(
            EqualLinear(channels(4) * 4 * 4, channels(4), activate=True),
            EqualLinear(channels(4), 1),
        )

    def forward(self, images: Tensor) -> Tensor:
        out = self.final_conv(minibatch_stddev(self.convs(images)))
        return self.final_linear(out.flatten(1))
