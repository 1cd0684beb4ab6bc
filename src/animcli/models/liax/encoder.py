"""LIA-X's encoder: the image's latent code (appearance), its motion code and the feature pyramid to warp.

``enc_2r`` ("to representation") maps an image to its latent code z and multi-scale features; ``enc_r2t``
("representation to transformation") reads the motion code α — the image's coordinates in the motion
dictionary — off z with one linear layer (LIA used five).
"""

from __future__ import annotations

from torch import Tensor, nn

from animcli.models.lia.layers import LIA_X, ConvLayer, EqualConv2d, EqualLinear, ResBlock
from animcli.models.liax.architecture import BOTTOM_SIZE, LiaxArchitecture


class Encoder2R(nn.Module):
    """Image (B, 3, S, S) → latent z (B, D) and features [8×8, 16×16, …, S×S] (low to high resolution)."""

    def __init__(self, arch: LiaxArchitecture) -> None:
        super().__init__()
        taps, widths = arch.blur_kernel, arch.encoder_widths
        self.block1 = ConvLayer(3, widths[0], 1, taps, variant=LIA_X)
        self.block_names = arch.encoder_blocks
        for name in self.block_names:
            # Each official block sits in a one-element Sequential (hence ``block2.0.…`` in the state dict).
            self.add_module(name, nn.Sequential(ResBlock(*arch.block_widths(name), taps, variant=LIA_X)))
        # One more halving to the 4×4 map, whose output is not warped by the decoder; then a valid 4×4 conv.
        self.block_512 = ResBlock(widths[3], widths[3], taps, variant=LIA_X)
        self.block8 = EqualConv2d(widths[3], arch.style_dim, BOTTOM_SIZE)

    def forward(self, images: Tensor) -> tuple[Tensor, list[Tensor]]:
        feats = [self.block1(images)]
        for name in self.block_names:
            feats.append(self.get_submodule(name)(feats[-1]))
        code = self.block8(self.block_512(feats[-1])).flatten(1)
        return code, feats[::-1]


class Encoder(nn.Module):
    def __init__(self, arch: LiaxArchitecture) -> None:
        super().__init__()
        self.enc_2r = Encoder2R(arch)
        self.enc_r2t = nn.Sequential(EqualLinear(arch.style_dim, arch.motion_dim))

    def appearance(self, images: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Latent code z (B, D) and the features the decoder warps, of images in [-1, 1]."""
        return self.enc_2r(images)

    def motion_of_code(self, code: Tensor) -> Tensor:
        """Motion code α (B, M) of an image's latent code."""
        return self.enc_r2t(code)

    def motion(self, images: Tensor) -> Tensor:
        """Motion code α (B, M) of images in [-1, 1] (the official ``enc_motion`` / ``get_alpha``)."""
        return self.enc_r2t(self.enc_2r(images)[0])
