"""Model families behind one interface (``base.AnimationModel``), described in ``families``."""

from animcli.models.families import FAMILIES, Family, detect_family, family_class, get_family


def __getattr__(name: str) -> object:
    # AnimationModel on first use: importing the family descriptors (e.g. for `animcli --help`) loads no torch.
    if name == "AnimationModel":
        from animcli.models.base import AnimationModel

        return AnimationModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FAMILIES", "AnimationModel", "Family", "detect_family", "family_class", "get_family"]
