"""LIA's encoder: a StyleGAN2-style ResNet that maps an image to its latent code and multi-scale features.

The same network serves both roles of the paper: for the source it yields the appearance code ``wa`` and the
feature maps the decoder warps; for any image the motion MLP turns that code into motion magnitudes α.
"""

from __future__ import annotations

from torch import Tensor, nn

from animcli.models.lia.architecture import LiaArchitecture
from animcli.models.lia.layers import ConvLayer, EqualConv2d, EqualLinear, ResBlock

#: the motion MLP is five affine layers with no nonlinearity between them (as published).
MOTION_MLP_LAYERS = 5


class EncoderApp(nn.Module):
    """Image (B, 3, S, S) → code (B, D) and features [8×8, 16×16, …, S×S] (low to high resolution)."""

    def __init__(self, arch: LiaArchitecture) -> None:
        super().__init__()
        resolutions = arch.resolutions(4)[::-1]  # S, S/2, …, 4
        stages: list[nn.Module] = [ConvLayer(3, arch.channels_at(arch.size), 1, arch.blur_kernel)]
        stages += [ResBlock(arch.channels_at(high), arch.channels_at(high // 2), arch.blur_kernel)
                   for high in resolutions[:-1]]
        # A 4×4 valid conv collapses the last 4×4 map into the 1×1 code.
        stages.append(EqualConv2d(arch.channels_at(4), arch.style_dim, 4))
        self.convs = nn.ModuleList(stages)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        outputs = []
        for stage in self.convs:
            x = stage(x)
            outputs.append(x)
        code = outputs[-1].flatten(1)
        # The 1×1 code and the 4×4 map are not warped by the decoder.
        features = outputs[-3::-1]
        return code, features


class Encoder(nn.Module):
    def __init__(self, arch: LiaArchitecture) -> None:
        super().__init__()
        self.net_app = EncoderApp(arch)
        dims = [arch.style_dim] * MOTION_MLP_LAYERS + [arch.motion_dim]
        self.fc = nn.Sequential(*(EqualLinear(d_in, d_out) for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)))

    def appearance(self, images: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Appearance code ``wa`` (B, D) and the features the decoder warps."""
        return self.net_app(images)

    def motion_of_code(self, code: Tensor) -> Tensor:
        """Motion magnitudes α (B, M) of an image's latent code."""
        return self.fc(code)

    def motion(self, images: Tensor) -> Tensor:
        code, _ = self.net_app(images)
        return self.fc(code)
