"""Frames per forward pass: the device's measured default, a user's number, or ``auto`` from free memory."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from animcli.common.errors import ModelError
from animcli.common.memory import available_memory, describe_bytes

if TYPE_CHECKING:
    from animcli.models.base import AnimationModel

AUTO = "auto"
#: CPU: single frames (larger batches measured slower: more cache misses, no more parallelism);
#: CUDA: 8 frames fill a GPU at 256×256 without the memory of a larger batch.
DEFAULT_BATCH = {"cpu": 1, "cuda": 8}
#: share of the free GPU memory ``auto`` plans to fill (the allocator fragments; other processes may grow).
MEMORY_SHARE = 0.7
MAX_AUTO_BATCH = 64
#: The most frames one pass may take, whatever --batch-size says: a batch is held whole (decoded frames, results,
#: the frames ahead of it), so --batch-size 100000 would hold a whole video in memory.
MAX_BATCH = 256
#: Share of the available memory the frames of batches in flight may take.
BATCH_MEMORY_SHARE = 0.25
#: Bytes per pixel a frame of a batch holds while it is in flight: the decoded uint8 frame and its copy ahead of
#: the model (prefetch), the float32 input and result, the uint8 result queued for the encoder.
BYTES_PER_PIXEL_IN_FLIGHT = 3 * (1 + 1 + 4 + 4 + 1)
#: The largest --size, as a multiple of the size a model was trained at: far beyond it a model sees nothing it
#: learned, and the cost grows with the square (4096 on a 64 px model took 193 s and 9 GB before failing).
MAX_SIZE_FACTOR = 4


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


def check_input_size(model: AnimationModel, size: int | None) -> int:
    """``--size`` (None: the model's own) checked against what the model accepts and was trained at."""
    size = model.check_size(size or model.size)
    if size > MAX_SIZE_FACTOR * model.size:
        raise ModelError(f"--size {size} is more than {MAX_SIZE_FACTOR}x the {model.size} px this model was trained "
                         f"at: it would cost ~{(size / model.size) ** 2:.0f}x the time and memory for nothing it "
                         f"learned; use at most {MAX_SIZE_FACTOR * model.size}")
    return size


def cap_batch_size(batch_size: int, size: int) -> int:
    """``batch_size``, or fewer frames (with a warning) when that many frames of ``size``² pixels would not fit
    in ``BATCH_MEMORY_SHARE`` of the available memory, or exceed ``MAX_BATCH``."""
    per_frame = size * size * BYTES_PER_PIXEL_IN_FLIGHT
    available = available_memory()
    limit = MAX_BATCH if available is None else max(1, min(MAX_BATCH, int(available * BATCH_MEMORY_SHARE) // per_frame))
    if batch_size <= limit:
        return batch_size
    warnings.warn(f"--batch-size {batch_size} lowered to {limit}: a batch is held in memory whole "
                  f"({describe_bytes(per_frame * batch_size)} for {batch_size} frames of {size}x{size})",
                  stacklevel=2)
    return limit
