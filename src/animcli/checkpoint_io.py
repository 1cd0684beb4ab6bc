"""Reading checkpoint files without running arbitrary pickled code.

Official checkpoints are pickles; they are only ever read with ``torch.load(weights_only=True)``, which
rebuilds tensors, containers and numbers and refuses anything else. LIA's trainer also pickled an
``argparse.Namespace`` of its command-line arguments; exactly that class is allowed, nothing more.
"""

from __future__ import annotations

import argparse
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from animcli.models.base import ModelError

SAFE_EXTRA_GLOBALS = [argparse.Namespace]


def load_checkpoint_file(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from animcli.safetensors_io import load_safetensors_checkpoint

        return load_safetensors_checkpoint(path, map_location)
    try:
        with torch.serialization.safe_globals(SAFE_EXTRA_GLOBALS):
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "disallowed object"
        raise ModelError(
            f"checkpoint {path} needs objects that are unsafe to unpickle ({first_line}); convert it on a "
            "trusted machine with `animcli models convert` and use the .safetensors file"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"checkpoint {path} is not a readable PyTorch checkpoint ({reason})") from None
    if not isinstance(checkpoint, dict):
        raise ModelError(f"checkpoint {path} does not hold a dict of state dicts")
    return checkpoint
