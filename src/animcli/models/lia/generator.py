"""LIA's generator: encoder + flow decoder, with the official module names (``enc``, ``dec``)."""

from __future__ import annotations

from torch import Tensor, nn

from animcli.models.lia.architecture import LiaArchitecture
from animcli.models.lia.decoder import Synthesis
from animcli.models.lia.encoder import Encoder


class Generator(nn.Module):
    def __init__(self, arch: LiaArchitecture) -> None:
        super().__init__()
        self.enc = Encoder(arch)
        self.dec = Synthesis(arch)

    def forward(self, source: Tensor, driving: Tensor | None = None, alpha_start: Tensor | None = None) -> Tensor:
        """The official one-call generator on [-1, 1] images, source re-encoded on every call.

        No driving: the source itself; driving only: absolute motion (training and reconstruction);
        with ``alpha_start`` (the first driving frame's α): relative motion, as the official demo animates.
        """
        return self.render(source, driving, alpha_start)[0]

    def render(self, source: Tensor, driving: Tensor | None = None, alpha_start: Tensor | None = None
               ) -> tuple[Tensor, list[Tensor]]:
        """As ``forward``, with the flow logits of every level (training reads its occlusion masks)."""
        wa, feats = self.enc.appearance(source)
        alpha_driving = None if driving is None else self.enc.motion(driving)
        alpha_source = None if alpha_start is None else self.enc.motion_of_code(wa)
        return self.dec.render(self.dec.latent(wa, alpha_driving, alpha_start, alpha_source), feats)
