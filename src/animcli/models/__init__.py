"""Model families behind one interface (``base.AnimationModel``), described in ``families``."""

from animcli.models.base import AnimationModel
from animcli.models.families import FAMILIES, Family, detect_family, family_class, get_family

__all__ = ["FAMILIES", "AnimationModel", "Family", "detect_family", "family_class", "get_family"]
