"""What this CPU can do: its model name and the instruction-set flags that decide whether bf16 pays off.

bf16 convolutions and matrix products are fast only on CPUs with bf16 units: x86 ``avx512_bf16`` (AMD Zen 4 and
later, Intel Cooper Lake and later) or ``amx_bf16`` (Intel Sapphire Rapids and later), and the Arm ``bf16``
feature. Elsewhere torch and OpenVINO emulate bf16 in float32 arithmetic plus conversions, slower than plain
float32, so ``--precision bf16`` is refused there rather than run silently slow.

The flags are read from ``/proc/cpuinfo`` (Linux). ``ANIMCLI_CPU_FLAGS`` (space-separated) replaces them, so the
refusal and the hints can be tried and tested on any machine, e.g. ``ANIMCLI_CPU_FLAGS="avx2 fma" animcli …``
stands for a CPU without bf16 units.
"""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
FLAGS_ENV = "ANIMCLI_CPU_FLAGS"
#: the flags of bf16 units, as /proc/cpuinfo names them (x86 "flags", Arm "Features").
BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")


@dataclass(frozen=True)
class CpuFeatures:
    model: str  # "AMD EPYC", "Intel(R) Xeon(R) Platinum 8480+", … ("unknown CPU" when it cannot be read)
    flags: frozenset[str] | None  # None: not known (no /proc/cpuinfo and no ANIMCLI_CPU_FLAGS)

    @property
    def bf16_units(self) -> tuple[str, ...]:
        """The bf16 flags this CPU reports, strongest first (empty: none, or not known)."""
        return tuple(flag for flag in BF16_FLAGS if self.flags is not None and flag in self.flags)

    @property
    def has_bf16(self) -> bool:
        return bool(self.bf16_units)

    def describe(self) -> str:
        units = ", ".join(self.bf16_units) or "no bf16 units"
        return f"{self.model} ({units})"


def parse_cpuinfo(text: str) -> CpuFeatures:
    """The model name and flags of the first processor listed in a /proc/cpuinfo text."""
    model, flags = None, None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model is None:
            model = value.strip()
        elif key in ("flags", "features") and flags is None:
            flags = frozenset(value.split())
        if model is not None and flags is not None:
            break
    return CpuFeatures(model or platform.processor() or "unknown CPU", flags)


def features_from(flags: Iterable[str], model: str = "CPU") -> CpuFeatures:
    """A CPU with exactly ``flags`` (for tests and for ``ANIMCLI_CPU_FLAGS``)."""
    return CpuFeatures(model, frozenset(flags))


def cpu_features() -> CpuFeatures:
    """This machine's CPU (``ANIMCLI_CPU_FLAGS`` replaces the flags read)."""
    read = _read_cpuinfo()
    configured = os.environ.get(FLAGS_ENV)
    if configured is not None:
        return CpuFeatures(read.model, frozenset(configured.replace(",", " ").split()))
    return read


@functools.lru_cache(maxsize=1)
def _read_cpuinfo() -> CpuFeatures:
    try:
        return parse_cpuinfo(CPUINFO.read_text(errors="replace"))
    except OSError:
        return CpuFeatures(platform.processor() or "unknown CPU", None)
