"""Reading checkpoint files without running arbitrary pickled code.

Official checkpoints are pickles; they are only ever read with ``torch.load(weights_only=True)``, which
rebuilds tensors, containers and numbers and refuses anything else. LIA's trainer also pickled an
``argparse.Namespace`` of its command-line arguments; exactly that class is allowed, nothing more.
The one exception is :func:`load_trusted_pickle`, reached only through ``animcli models convert
--trust-pickle``: the user's explicit statement that a file is trusted, made once to produce a
safetensors file.
"""

from __future__ import annotations

import argparse
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from animcli.models.base import ModelError

SAFE_EXTRA_GLOBALS = [argparse.Namespace]
# torch names the first object it refused ("Unsupported global: GLOBAL module.name"): what users need to see.
_REFUSED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


def _unsafe_object_name(error: pickle.UnpicklingError) -> str:
    found = _REFUSED_GLOBAL.search(str(error))
    return found.group(1) if found else "an object outside tensors, containers and numbers"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _require_dict(checkpoint: Any, path: Path) -> dict[str, Any]:
    if not isinstance(checkpoint, dict):
        raise ModelError(f"checkpoint {path} does not hold a dict of state dicts")
    return checkpoint


_UNREADABLE = (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError)


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
        raise ModelError(
            f"refusing to load checkpoint {path}: unpickling it would run code ({_unsafe_object_name(exc)}); "
            "if you trust the file, convert it once on a trusted machine with "
            "`animcli models convert IN OUT.safetensors --trust-pickle` and use the .safetensors file"
        ) from None
    except _UNREADABLE as exc:
        reason = _first_line(exc)
        raise ModelError(f"checkpoint {path} is not a readable PyTorch checkpoint ({reason})") from None
    return _require_dict(checkpoint, path)


def load_trusted_pickle(path: Path) -> dict[str, Any]:
    """Unpickle with arbitrary objects allowed: this RUNS the pickle's code (trusted files only)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, AttributeError, ImportError, *_UNREADABLE) as exc:
        raise ModelError(f"checkpoint {path} could not be unpickled ({_first_line(exc)})") from None
    return _require_dict(checkpoint, path)
