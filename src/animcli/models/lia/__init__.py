"""LIA (Latent Image Animator, Wang et al., ICLR 2022): animation by navigating a learned latent space."""

from animcli.models.lia.architecture import LiaArchitecture
from animcli.models.lia.discriminator import Discriminator
from animcli.models.lia.generator import Generator
from animcli.models.lia.model import (
    LiaModel,
    LiaSourceState,
    to_signed_range,
)

MODEL = LiaModel

__all__ = ["MODEL", "Discriminator", "Generator", "LiaArchitecture", "LiaModel", "LiaSourceState",
           "to_signed_range"]
