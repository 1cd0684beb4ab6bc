"""The note a summary line carries when a run computed in fp32 on a CPU that has bf16 units."""

from __future__ import annotations

import torch

from animcli.common.cpu import cpu_features
from animcli.inference.measurements import bf16_speedup

#: what "about 2×" stands on when ``animcli bench`` has measured nothing here (issue 26, docs/precision.md).
UNMEASURED_SOURCE = "FOMM vox-256 on 2 AMD EPYC cores: torch 2.05×, OpenVINO 2.75×"


def bf16_hint(device: torch.device, precision: str, family: str, size: int | None, backend: str) -> str | None:
    """``None`` unless a fp32 run on the CPU could have used bf16 units; then how much faster ``--precision bf16``
    ran here in ``animcli bench`` for this family, or "about 2×" with the measurement that says so."""
    if device.type != "cpu" or precision != "fp32":
        return None
    cpu = cpu_features()
    if not cpu.has_bf16:
        return None
    speedup = bf16_speedup(family, size, backend)
    if speedup is not None:
        return (f"this CPU has bf16 units ({cpu.bf16_units[0]}): --precision bf16 ran {speedup:.1f}× as fast as "
                f"this fp32 run's {backend} backend in animcli bench")
    return (f"this CPU has bf16 units ({cpu.bf16_units[0]}): --precision bf16 would be about 2× as fast "
            f"({UNMEASURED_SOURCE}; `animcli bench --compare` measures it here)")
