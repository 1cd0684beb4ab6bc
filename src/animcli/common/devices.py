"""Device choice and mixed precision."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from animcli.common.errors import ModelError


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` → the first CUDA device when there is one, else CPU; ``cpu``; ``cuda`` / ``cuda:N``."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ModelError(f"unknown device {spec!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(f"device {spec!r} requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ModelError(f"device {spec!r} requested but only {torch.cuda.device_count()} CUDA devices exist")
    elif device.type != "cpu":
        raise ModelError(f"unsupported device {spec!r} (use auto, cpu, cuda or cuda:N)")
    return device


def use_fp16(device: torch.device, fp16: bool | None) -> bool:
    """fp16 defaults on for CUDA only: CPU fp16 kernels are slower than fp32, so there it runs on request
    (which is how the fp16 code path is tested on machines without a GPU)."""
    return device.type == "cuda" if fp16 is None else fp16


@contextlib.contextmanager
def inference_precision(device: torch.device, fp16: bool) -> Iterator[None]:
    """Autocast to float16 on CUDA; sampling grids and softmaxes opt out locally (see blocks.grid_sample)."""
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=fp16):
        yield
