"""LIA-X's generator: encoder + decoder with the official module names (``enc``, ``dec``).

Like the official class it has no single forward: inference encodes the source once, the driving frames in
chunks, and decodes latents navigated through the motion dictionary (see ``model.LiaxModel``).
"""

from __future__ import annotations

from torch import nn

from animcli.models.liax.architecture import LiaxArchitecture
from animcli.models.liax.decoder import Decoder
from animcli.models.liax.encoder import Encoder


class Generator(nn.Module):
    def __init__(self, arch: LiaxArchitecture) -> None:
        super().__init__()
        self.enc = Encoder(arch)
        self.dec = Decoder(arch)
