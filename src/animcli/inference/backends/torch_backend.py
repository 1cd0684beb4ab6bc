"""The torch backend: the family's own modules, eager or compiled."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from animcli.inference.backends.base import Backend
from animcli.models.base import AnimationModel, Motion


class TorchBackend(Backend):
    """The family's own torch modules, eager (or ``torch.compile``d), under fp16 or bf16 autocast when asked."""

    name = "torch"
    precisions = ("fp32", "fp16", "bf16")

    def __init__(self, model: AnimationModel, device: torch.device, precision: str, compile: bool = False) -> None:
        super().__init__(model, device, precision)
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
