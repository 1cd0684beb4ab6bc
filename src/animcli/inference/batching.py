"""Frames per forward pass: the device's measured default, a user's number, or ``auto`` from free memory."""

from __future__ import annotations

from collections.abc import Callable

import torch

from animcli.common.errors import ModelError

AUTO = "auto"
#: CPU: single frames (larger batches measured slower: more cache misses, no more parallelism);
#: CUDA: 8 frames fill a GPU at 256×256 without the memory of a larger batch.
DEFAULT_BATCH = {"cpu": 1, "cuda": 8}
#: share of the free GPU memory ``auto`` plans to fill (the allocator fragments; other processes may grow).
MEMORY_SHARE = 0.7
MAX_AUTO_BATCH = 64


def parse_batch_size(text: str | None) -> int | str | None:
    """The ``--batch-size`` option: a positive number or ``auto``."""
    if text is None or text == AUTO:
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ModelError(f"--batch-size takes a positive number or 'auto', not {text!r}")
    return value


def batch_size_for_memory(free_bytes: int, bytes_per_frame: int) -> int:
    """The largest batch whose working memory fits ``MEMORY_SHARE`` of the free memory (1 … MAX_AUTO_BATCH)."""
    return max(1, min(MAX_AUTO_BATCH, int(free_bytes * MEMORY_SHARE) // max(bytes_per_frame, 1)))


def resolve_batch_size(batch_size: int | str | None, device: torch.device,
                       bytes_per_frame: Callable[[], int]) -> int:
    """``None``: the device's default; ``auto``: from free memory on CUDA (``bytes_per_frame`` measures a
    probe batch), the default elsewhere; a number as is."""
    if batch_size is None or (batch_size == AUTO and device.type != "cuda"):
        return DEFAULT_BATCH.get(device.type, 1)
    if batch_size == AUTO:
        free_bytes, _ = torch.cuda.mem_get_info(device)
        return batch_size_for_memory(free_bytes, bytes_per_frame())
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    return batch_size
