"""TPSMM inpainting network: a U-Net-like generator whose decoder takes, at every level, the source's encoder
feature warped by the dense motion and masked by that level's occlusion map; the result is blended with the
warped source image where the last occlusion map says the source is visible."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from animcli.models.blocks import DownBlock, ResBlock, SameBlock, UpBlock, deform, level_features, resize_to


def occlude(feature: Tensor, occlusion: Tensor) -> Tensor:
    """``feature`` masked by an occlusion map (resized to it first when a single map serves every level)."""
    return feature * resize_to(occlusion, tuple(feature.shape[2:]), align_corners=True).to(feature.dtype)


def warp(feature: Tensor, deformation: Tensor) -> Tensor:
    """TPSMM's warp: the flow is resized with align_corners=True (FOMM's with False)."""
    return deform(feature, deformation, resize_align_corners=True)


class InpaintingNetwork(nn.Module):
    def __init__(self, num_channels: int, block_expansion: int, max_features: int, num_down_blocks: int,
                 multi_mask: bool = True) -> None:
        super().__init__()
        self.first = SameBlock(num_channels, block_expansion, kernel_size=7, padding=3, norm="instance")
        widths_in = [level_features(block_expansion, i, max_features) for i in range(num_down_blocks)]
        widths_out = [level_features(block_expansion, i + 1, max_features) for i in range(num_down_blocks)]
        self.down_blocks = nn.ModuleList(DownBlock(a, b, norm="instance") for a, b in zip(widths_in, widths_out,
                                                                                           strict=True))
        # a decoder level takes its up-block output and the warped skip of the same width, except the deepest
        decoder = [2 * width for width in widths_out[:-1]] + [widths_out[-1]]
        self.up_blocks = nn.ModuleList(UpBlock(decoder[i], widths_in[i], norm="instance")
                                       for i in reversed(range(num_down_blocks)))
        self.resblock = nn.ModuleList(ResBlock(decoder[i], norm="instance")
                                      for i in reversed(range(num_down_blocks)) for _ in range(2))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.multi_mask = multi_mask

    def encode(self, image: Tensor) -> list[Tensor]:
        """The encoder maps, finest (full size) first."""
        maps = [self.first(image)]
        for block in self.down_blocks:
            maps.append(block(maps[-1]))
        return maps

    def occlusion_for(self, occlusion_maps: list[Tensor], level: int) -> Tensor:
        return occlusion_maps[level if self.multi_mask else 0]

    def decode(self, source: Tensor, encoder_maps: list[Tensor], motion: dict[str, Any],
               warped_maps: bool = False) -> dict[str, Any]:
        """The prediction for the dense motion ``motion``; with ``warped_maps`` also the warped, masked encoder
        maps (coarsest first) with their features and occlusion maps detached, as the warp loss needs them."""
        deformation, occlusion_maps = motion["deformation"], motion["occlusion_map"]
        batch = deformation.shape[0]
        encoder_maps = [feature.expand(batch, *feature.shape[1:]) for feature in encoder_maps]
        warped: list[Tensor] = []

        def warped_level(feature: Tensor, level: int) -> Tensor:
            occlusion = self.occlusion_for(occlusion_maps, level)
            if warped_maps:
                warped.append(occlude(warp(feature.detach(), deformation), occlusion.detach()))
            return occlude(warp(feature, deformation), occlusion)

        out = warped_level(encoder_maps[-1], 0)
        for level, block in enumerate(self.up_blocks):
            out = self.resblock[2 * level + 1](self.resblock[2 * level](out))
            out = block(out)
            skip = warped_level(encoder_maps[-(level + 2)], level + 1)
            if level < len(self.up_blocks) - 1:
                out = torch.cat([out, skip], dim=1)
        deformed = warp(source.expand(batch, *source.shape[1:]), deformation)
        visible = resize_to(occlusion_maps[-1], tuple(out.shape[2:]), align_corners=True).to(out.dtype)
        out = torch.sigmoid(self.final(out * (1 - visible) + skip))
        prediction = out * (1 - visible) + deformed.to(out.dtype) * visible
        return {**motion, "deformed": deformed, "prediction": prediction, "warped_encoder_maps": warped}

    def forward(self, source: Tensor, motion: dict[str, Any], warped_maps: bool = False) -> dict[str, Any]:
        return self.decode(source, self.encode(source), motion, warped_maps)

    @torch.no_grad()
    def encode_target(self, driving: Tensor, occlusion_maps: list[Tensor]) -> list[Tensor]:
        """The driving frame's encoder maps masked by the occlusion maps, finest first (the warp loss's
        target, official ``get_encode``)."""
        return [feature * occlusion_maps[-(level + 1)]
                for level, feature in enumerate(self.encode(driving))]
