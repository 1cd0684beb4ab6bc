"""Mixed precision for training: autocast dtype and (for float16) loss scaling.

bfloat16 has float32's exponent range, so it needs no loss scaling; float16 does, through one GradScaler
shared by all of a family's optimisers (the PyTorch recipe for several losses and optimisers per iteration:
scale every backward, ``step`` each optimiser through the scaler, ``update`` once per iteration).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor

from animcli.common.errors import AnimcliError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` → bf16 on CUDA devices that support it, fp16 on older ones, fp32 on CPU."""
    if name == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if name not in DTYPES:
        raise AnimcliError(f"unknown precision {name!r} (use auto, fp32, bf16 or fp16)")
    if name == "fp16" and device.type != "cuda":
        raise AnimcliError("--precision fp16 needs a CUDA device (use bf16 or fp32 on CPU)")
    return name


class Precision:
    def __init__(self, name: str, device: torch.device) -> None:
        self.name = name
        self.device = device
        self.dtype = DTYPES[name]
        self.scaler = torch.amp.GradScaler(device.type, enabled=name == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.name != "fp32")

    def backward(self, loss: Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.step(optimizer)

    def update(self) -> None:
        """Once per iteration, after every optimiser stepped."""
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.scaler.load_state_dict(state)
