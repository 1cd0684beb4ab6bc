"""LIA-X's decoder: LIA's flow decoder deepened with normalised residual blocks and an RGB branch of its own.

Every level doubles the resolution with an upsampling styled conv, refines the map with four FlowResBlocks,
predicts a flow (and occlusion mask) that warps the source's encoder feature of that resolution (ToFlow, as
in LIA), and feeds the warped feature into a separate RGB branch: up-conv of the previous level's branch,
four residual blocks, ToRGB accumulated over levels. Every layer is styled with the same latent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from animcli.models.lia.decoder import ConstantInput, StyledConv, ToFlow, ToRGB
from animcli.models.lia.direction import Direction
from animcli.models.lia.layers import LIA_X, ConvLayer
from animcli.models.liax.architecture import NORM_GROUPS, LiaxArchitecture

#: FlowResBlocks and RGB ResBlocks per level.
BLOCKS_PER_LEVEL = 4
#: FlowResBlock's residual gate starts almost closed, so a fresh block is close to its first conv.
GAMMA_INIT = 1e-5


class FlowResBlock(nn.Module):
    """Styled conv, then a gated residual of GroupNorm → styled conv (the skip is the first conv's output)."""

    def __init__(self, channels: int, style_dim: int, blur_taps: Sequence[float]) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((1, channels, 1, 1), GAMMA_INIT))
        self.norm = nn.GroupNorm(NORM_GROUPS, channels)
        self.conv1 = StyledConv(channels, channels, 3, style_dim, blur_taps, variant=LIA_X)
        self.conv2 = StyledConv(channels, channels, 3, style_dim, blur_taps, variant=LIA_X)

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        first = self.conv1(x, style)
        return first + self.gamma * self.conv2(self.norm(first), style)


class RgbResBlock(nn.Module):
    """Two 3×3 convs with an identity skip, averaged to keep the variance (the RGB branch's blocks)."""

    def __init__(self, channels: int, blur_taps: Sequence[float]) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3, blur_taps, variant=LIA_X)
        self.conv2 = ConvLayer(channels, channels, 3, blur_taps, variant=LIA_X)

    def forward(self, x: Tensor) -> Tensor:
        return (self.conv2(self.conv1(x)) + x) / math.sqrt(2)


class Decoder(nn.Module):
    """Latent (B, D) + source features [8×8 … S×S] → image (B, 3, S, S) in [-1, 1] (unclamped).

    Modules carry the official flat names (``conv{stem}_1``, ``conv{stem}_2``, ``conv{stem}_2_up``,
    ``conv{stem}_2_rgb``, ``rgb{stem}``, ``flow{stem}``) so ``lia-x.pt`` loads as it is.
    """

    def __init__(self, arch: LiaxArchitecture) -> None:
        super().__init__()
        style_dim, taps = arch.style_dim, arch.blur_kernel
        widths = arch.feature_widths()
        self.direction = Direction(style_dim, arch.motion_dim)
        self.input = ConstantInput(widths[0])
        self.conv1 = StyledConv(widths[0], widths[0], 3, style_dim, taps, variant=LIA_X)
        self.stems = arch.decoder_levels
        for level, (stem, width) in enumerate(zip(self.stems, widths, strict=True)):
            previous = widths[max(level - 1, 0)]
            self.add_module(f"conv{stem}_1", StyledConv(previous, width, 3, style_dim, taps, upsample=True,
                                                        variant=LIA_X))
            self.add_module(f"conv{stem}_2", nn.ModuleList(
                FlowResBlock(width, style_dim, taps) for _ in range(BLOCKS_PER_LEVEL)))
            if level > 0:
                self.add_module(f"conv{stem}_2_up", ConvLayer(previous, width, 3, taps, upsample=True,
                                                              variant=LIA_X))
            self.add_module(f"conv{stem}_2_rgb", nn.ModuleList(
                RgbResBlock(width, taps) for _ in range(BLOCKS_PER_LEVEL)))
            self.add_module(f"rgb{stem}", ToRGB(width, taps, variant=LIA_X))
            self.add_module(f"flow{stem}", ToFlow(width, style_dim, taps, variant=LIA_X))

    def forward(self, latent: Tensor, feats: Sequence[Tensor], trace: list[dict[str, Tensor]] | None = None
                ) -> Tensor:
        """``trace``, when given, receives every level's intermediate maps (for checks against the official code)."""
        h = self.conv1(self.input(latent.shape[0]), latent)
        rgb_feature: Tensor | None = None
        rgb: Tensor | None = None
        logits: Tensor | None = None
        for stem, feat in zip(self.stems, feats, strict=True):
            h = self.get_submodule(f"conv{stem}_1")(h, latent)
            for block in self.get_submodule(f"conv{stem}_2"):
                h = block(h, latent)
            h_in = h
            warped, h, logits = self.get_submodule(f"flow{stem}")(h, latent, feat, logits)
            # The RGB branch never sees h: it starts from the warped source feature (plus the previous branch).
            rgb_feature = warped if rgb_feature is None else warped + self.get_submodule(f"conv{stem}_2_up")(
                rgb_feature)
            for block in self.get_submodule(f"conv{stem}_2_rgb"):
                rgb_feature = block(rgb_feature)
            rgb = self.get_submodule(f"rgb{stem}")(rgb_feature, rgb)
            if trace is not None:
                trace.append({"flow_h_in": h_in, "feat_warp": warped, "h_blend": h, "flow_logits": logits,
                              "rgb_in": rgb_feature, "rgb": rgb})
        assert rgb is not None
        return rgb
