"""What runs a family's networks: the interface every backend implements, the torch backend, and the choice.

A backend runs the three per-run computations of :class:`AnimationModel` — encoding the source, encoding
driving frames, rendering frames from the cached source state — on tensors at the model's input size.
Motion transfer (small keypoint or latent algebra, some of it on the CPU by design) always runs in torch.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor

from animcli.choices import BACKENDS
from animcli.devices import inference_precision
from animcli.errors import ModelError
from animcli.models.base import AnimationModel, Motion


class Backend(ABC):
    name: str

    def __init__(self, model: AnimationModel, device: torch.device, fp16: bool) -> None:
        self.model = model
        self.device = device
        self.fp16 = fp16

    def precision(self) -> contextlib.AbstractContextManager[None]:
        """The context torch-side work (transfer, pose comparison) runs in."""
        return inference_precision(self.device, self.fp16)

    @abstractmethod
    def encode_source(self, source: Tensor, size: int) -> Any:
        """The family's source state for a (1, 3, size, size) image."""

    @abstractmethod
    def encode_driving(self, frames: Tensor, size: int) -> Motion:
        """The motion of (B, 3, size, size) frames."""

    @abstractmethod
    def generate(self, source_state: Any, motion: Motion, size: int) -> Tensor:
        """(B, 3, size, size) frames in [0, 1]."""


class TorchBackend(Backend):
    """The family's own torch modules, eager (or ``torch.compile``d), under fp16 autocast when asked."""

    name = "torch"

    def __init__(self, model: AnimationModel, device: torch.device, fp16: bool, compile: bool = False) -> None:
        super().__init__(model, device, fp16)
        self._encode_driving = model.encode_driving
        self._generate = model.generate
        if compile:
            # Static shapes per run (one size, one batch size except the last batch): CUDA graphs apply there.
            mode = "max-autotune" if device.type == "cuda" else "default"
            self._encode_driving = torch.compile(model.encode_driving, mode=mode, dynamic=False)
            self._generate = torch.compile(model.generate, mode=mode, dynamic=False)

    def encode_source(self, source: Tensor, size: int) -> Any:
        with self.precision():
            return self.model.encode_source(source)

    def encode_driving(self, frames: Tensor, size: int) -> Motion:
        with self.precision():
            return self._encode_driving(frames)

    def generate(self, source_state: Any, motion: Motion, size: int) -> Tensor:
        with self.precision():
            return self._generate(source_state, motion)


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
    from animcli.engine.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(model, device, fp16, threads=threads)

