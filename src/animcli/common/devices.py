"""Device choice and mixed precision."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from animcli.common.choices import PRECISIONS
from animcli.common.cpu import CpuFeatures, cpu_features
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


#: what each precision computes in under autocast (fp32: no autocast).
AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
#: CUDA compute capability from which bf16 has tensor-core support (Ampere).
CUDA_BF16_CAPABILITY = (8, 0)


def resolve_precision(device: torch.device, precision: str = "auto", *, cpu: CpuFeatures | None = None,
                      cuda_capability: tuple[int, int] | None = None) -> str:
    """``fp32``, ``fp16`` or ``bf16`` for ``precision`` on ``device``; raises ``ModelError`` (one line) for bf16
    where it would not pay off. ``auto``: fp16 on CUDA, fp32 on CPU (exact reproduction stays the CPU default).
    fp16 on a CPU runs when asked (slower than fp32 there; it is how the fp16 path is tested without a GPU).
    ``cpu`` and ``cuda_capability`` stand in for this machine's (tests)."""
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r} (use {', '.join(PRECISIONS)})")
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision != "bf16":
        return precision
    if device.type == "cuda":
        capability = cuda_capability or torch.cuda.get_device_capability(device)
        if tuple(capability) < CUDA_BF16_CAPABILITY:
            raise ModelError(f"--precision bf16 on CUDA needs an Ampere or later GPU (compute capability 8.0; this "
                             f"one has {capability[0]}.{capability[1]}): use --precision fp16")
        return precision
    cpu = cpu or cpu_features()
    if not cpu.has_bf16:
        known = "reports no bf16 units" if cpu.flags is not None else "does not say whether it has bf16 units"
        raise ModelError(f"--precision bf16 needs a CPU with bf16 units (avx512_bf16 or amx_bf16); this {cpu.model} "
                         f"{known}, where bf16 would be slower than fp32: use --precision fp32")
    return precision


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision (None for fp32)."""
    return AUTOCAST_DTYPES.get(precision)


@contextlib.contextmanager
def inference_precision(device: torch.device, precision: str) -> Iterator[None]:
    """Inference mode, under fp16/bf16 autocast for those precisions; sampling grids, softmaxes and keypoint
    algebra opt out locally (see ``blocks.grid_sample`` and ``blocks.full_precision``)."""
    dtype = autocast_dtype(precision)
    autocast = contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)
    with torch.inference_mode(), autocast:
        yield
