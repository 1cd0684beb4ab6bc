"""LIA-X (Interpretable Latent Portrait Animator, Wang et al., 2025): LIA's successor, 512 px, with editable
motion directions (head pose, mouth, eyes)."""

from animcli.models.liax.architecture import LiaxArchitecture
from animcli.models.liax.generator import Generator
from animcli.models.liax.model import LiaxModel, LiaxSourceState

MODEL = LiaxModel

__all__ = ["MODEL", "Generator", "LiaxArchitecture", "LiaxModel", "LiaxSourceState"]
