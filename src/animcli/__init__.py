"""animcli: image animation with FOMM, LIA and Monkey-Net.

The public API is imported lazily so that ``import animcli`` (and ``animcli --help``) stays fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_model": "animcli.weights.loading",
    "Animator": "animcli.inference.animator",
    "AnimatedBatch": "animcli.inference.animator",
    "TransferOptions": "animcli.models.base",
    "AnimationModel": "animcli.models.base",
    "animate_files": "animcli.workflows.animate_files",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'animcli' has no attribute {name!r}")


__all__ = list(_EXPORTS)
