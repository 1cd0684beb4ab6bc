"""Which backend runs a model: ``auto`` resolved, threads set, the backend built.

Kept apart from the backends so that they import the interface and nothing imports back.
"""

from __future__ import annotations

import os

import torch

from animcli.common.choices import BACKENDS
from animcli.common.errors import ModelError
from animcli.inference.backends.base import Backend
from animcli.inference.backends.torch_backend import TorchBackend
from animcli.models.base import AnimationModel


def default_threads() -> int:
    """Intra-op threads: the CPUs this process may run on, as torch counts them (physical cores)."""
    return max(1, min(torch.get_num_threads(), len(os.sched_getaffinity(0))))


def resolve_backend_name(name: str, device: torch.device, fp16: bool) -> str:
    """``auto``: onnxruntime on CPU in float32 (faster there, measured), torch on CUDA and for fp16."""
    if name not in BACKENDS:
        raise ModelError(f"unknown backend {name!r} (use {', '.join(BACKENDS)})")
    if name != "auto":
        return name
    return "onnxruntime" if device.type == "cpu" and not fp16 else "torch"


def make_backend(model: AnimationModel, name: str, device: torch.device, fp16: bool, *,
                 threads: int | None = None, compile: bool = False) -> Backend:
    """The backend ``name`` (after ``auto`` is resolved) for ``model``; ``threads`` sets intra-op threads."""
    resolved = resolve_backend_name(name, device, fp16)
    threads = threads or default_threads()
    torch.set_num_threads(threads)
    if resolved == "torch":
        return TorchBackend(model, device, fp16, compile=compile)
    if compile:
        raise ModelError("--compile applies to the torch backend (onnxruntime optimises its graphs itself)")
    from animcli.inference.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(model, device, fp16, threads=threads)
