"""How much memory this machine (or a GPU) has free, for the up-front checks that refuse work that cannot fit."""

from __future__ import annotations

import os
from typing import Any


def available_memory(device: Any = None) -> int | None:
    """Bytes that can still be allocated: free GPU memory for a CUDA ``device``, else the kernel's estimate of
    available RAM (``MemAvailable``: free memory plus what the page cache can give back). None when unknown."""
    if device is not None and getattr(device, "type", str(device)).startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def describe_bytes(count: float) -> str:
    """``1.5 GB``, ``320 MB``: one decimal place where it matters."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{int(count)} bytes"
