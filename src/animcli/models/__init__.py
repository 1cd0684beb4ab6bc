"""Model families. Each family module exposes ``MODEL``: its :class:`AnimationModel` subclass."""

from __future__ import annotations

import importlib
from typing import Any

from animcli.models.base import AnimationModel, ModelError

FAMILY_MODULES = {
    "fomm": "animcli.models.fomm",
    "lia": "animcli.models.lia",
    "monkeynet": "animcli.models.monkeynet",
}


def family_class(name: str) -> type[AnimationModel]:
    if name not in FAMILY_MODULES:
        raise ModelError(f"unknown model family {name!r} (known: {', '.join(FAMILY_MODULES)})")
    return importlib.import_module(FAMILY_MODULES[name]).MODEL


def detect_family(config: dict[str, Any] | None = None, checkpoint: dict[str, Any] | None = None) -> str:
    """The family a config (preferred) or checkpoint dict belongs to."""
    for name in FAMILY_MODULES:
        cls = family_class(name)
        if (config is not None and cls.claims_config(config)) or (
            config is None and checkpoint is not None and cls.claims_checkpoint(checkpoint)
        ):
            return name
    what = "config" if config is not None else "checkpoint"
    raise ModelError(f"the {what} is not a FOMM, LIA or Monkey-Net {what}")


__all__ = ["AnimationModel", "ModelError", "FAMILY_MODULES", "family_class", "detect_family"]
