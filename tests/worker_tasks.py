"""Tasks for the engine tests; a module of its own so spawned workers and Ray actors can import it."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from animcli.workflows.request import ModelCache


@dataclass(frozen=True)
class DieTimes:
    """Kills its own worker (SIGKILL, as the OOM killer does) on its first ``times`` attempts, counted in
    ``marker``; a later attempt returns the worker's pid and intra-op thread count."""

    marker: Path
    times: int

    def run(self, models: ModelCache) -> tuple[int, int]:
        attempts = len(self.marker.read_text()) if self.marker.exists() else 0
        if attempts < self.times:
            self.marker.write_text("x" * (attempts + 1))
            os.kill(os.getpid(), signal.SIGKILL)
        import torch

        return os.getpid(), torch.get_num_threads()


@dataclass(frozen=True)
class VisibleGpus:
    """The GPUs its worker was given."""

    def run(self, models: ModelCache) -> str | None:
        return os.environ.get("CUDA_VISIBLE_DEVICES")
