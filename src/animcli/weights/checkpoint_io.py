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

from animcli.common.errors import ModelError
from animcli.common.files import note_input
from animcli.weights.safetensors_io import load_safetensors_checkpoint

SAFE_EXTRA_GLOBALS = [argparse.Namespace]
# torch names the first object it refused ("Unsupported global: GLOBAL module.name"): what users need to see.
_REFUSED_GLOBAL = re.compile(r"[Uu]nsupported (?:global: )?GLOBAL (\S+)")
# torch's weights-only unpickler reports a disallowed object and a corrupt stream with the same exception
# type; only the former mentions the allowlist.
_REFUSAL_MARKERS = ("Unsupported global", "unsupported GLOBAL", "allowlist")
# torch wraps every weights-only failure in paragraphs of advice (re-run with weights_only=False, read the docs)
# around the one sentence that says what went wrong.
_TORCH_ADVICE = ("Weights only load failed", "Check the documentation", "Please file an issue")
_UNPICKLER_DETAIL = re.compile(r"WeightsUnpickler error:\s*(\S[^\n]*)")


def _unsafe_object_name(error: pickle.UnpicklingError) -> str:
    found = _REFUSED_GLOBAL.search(str(error))
    return found.group(1) if found else "an object outside tensors, containers and numbers"


def _is_refusal(error: pickle.UnpicklingError) -> bool:
    return any(marker in str(error) for marker in _REFUSAL_MARKERS)


def _unpickling_problem(error: pickle.UnpicklingError) -> str:
    found = _UNPICKLER_DETAIL.search(str(error))
    if found:
        return found.group(1).strip()
    sentences = [line.strip() for line in str(error).splitlines()
                 if line.strip() and not line.strip().startswith(_TORCH_ADVICE)]
    return sentences[0] if sentences else "not a weights-only PyTorch pickle"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _require_dict(checkpoint: Any, path: Path) -> dict[str, Any]:
    if not isinstance(checkpoint, dict):
        raise ModelError(f"checkpoint {path} does not hold a dict of state dicts")
    return checkpoint


# What torch.load raises on a truncated or foreign file (its unpickler fails on whatever byte is wrong).
_UNREADABLE = (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, LookupError, TypeError)


def load_checkpoint_file(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"checkpoint {path} is a folder, not a checkpoint file")
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist")
    note_input(path)
    if path.suffix == ".safetensors":
        return load_safetensors_checkpoint(path, map_location)
    try:
        with torch.serialization.safe_globals(SAFE_EXTRA_GLOBALS):
            # Memory-mapped when the format allows it (torch ≥ 1.6 zip files; the legacy format of old
            # checkpoints does not): a model that takes the tensors over does not hold a second copy.
            checkpoint = torch.load(path, map_location=map_location, weights_only=True,
                                    mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        if not _is_refusal(exc):
            reason = _unpickling_problem(exc)
            raise ModelError(f"checkpoint {path} is not a readable PyTorch checkpoint ({reason})") from None
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
