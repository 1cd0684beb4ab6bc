"""What ``animcli bench`` measured on this machine, kept so that ``--backend auto`` picks the fastest backend for a
precision and a fp32 run can say how much faster bf16 would be here.

One JSON file beside the engine's cache (``$ANIMCLI_CACHE_DIR/measurements.json``, else
``~/.cache/animcli/measurements.json``): a list of records, one per CPU model, family, input size, precision and
backend (a new measurement replaces the old one). Nothing is ever measured behind the user's back: without a
record, ``auto`` falls back to the defaults in ``backend_choice``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from animcli.common.cpu import cpu_features
from animcli.common.files import atomic_path
from animcli.inference.export import cache_root

FILE_NAME = "measurements.json"


@dataclass(frozen=True)
class Measurement:
    cpu: str  # the CPU model, as /proc/cpuinfo names it
    family: str
    size: int
    precision: str
    backend: str
    threads: int
    fps: float  # the engine's frames per second in animcli bench
    official_fps: float  # the official per-frame loop's, in the same paired rounds
    max_grey: float  # largest difference from the official fp32 output, in grey levels (0-255)
    mean_grey: float
    when: str = ""  # ISO date

    @property
    def ratio(self) -> float:
        return self.fps / self.official_fps if self.official_fps > 0 else float("nan")

    def key(self) -> tuple[str, str, int, str, str]:
        return self.cpu, self.family, self.size, self.precision, self.backend


def measurements_file() -> Path:
    return cache_root().parent / FILE_NAME


def load(path: Path | None = None) -> list[Measurement]:
    """Every record (none when the file is missing or unreadable: records only ever steer choices)."""
    path = path or measurements_file()
    try:
        return [Measurement(**record) for record in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []


def save(new: Iterable[Measurement], path: Path | None = None) -> Path:
    """Add ``new`` records, replacing earlier ones with the same key; returns the file written."""
    path = path or measurements_file()
    today = time.strftime("%Y-%m-%d")
    records = {record.key(): record for record in load(path)}
    for record in new:
        records[record.key()] = record if record.when else Measurement(**{**asdict(record), "when": today})
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps([asdict(record) for record in records.values()], indent=1) + "\n")
    return path


def here(family: str, size: int | None = None, records: list[Measurement] | None = None) -> list[Measurement]:
    """This CPU's records for ``family`` (at ``size`` when any were taken at that size, else at any size)."""
    cpu = cpu_features().model
    mine = [record for record in (load() if records is None else records)
            if record.cpu == cpu and record.family == family]
    same_size = [record for record in mine if record.size == size]
    return same_size or mine


def fastest_backend(family: str, size: int | None, precision: str, candidates: Iterable[str]) -> str | None:
    """The candidate backend that ran ``precision`` fastest for ``family`` on this CPU, if any was measured."""
    allowed = set(candidates)
    measured = [record for record in here(family, size) if record.precision == precision and record.backend in allowed]
    return max(measured, key=lambda record: record.fps).backend if measured else None


def bf16_speedup(family: str, size: int | None, fp32_backend: str) -> float | None:
    """How much faster the fastest measured bf16 backend ran than ``fp32_backend`` in fp32 for ``family`` on this
    CPU (None: not measured)."""
    records = here(family, size)
    fp32 = [record.fps for record in records if record.precision == "fp32" and record.backend == fp32_backend]
    bf16 = [record.fps for record in records if record.precision == "bf16"]
    if not fp32 or not bf16:
        return None
    return max(bf16) / fp32[0]
