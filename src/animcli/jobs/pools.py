"""Where many tasks run: ``local`` (worker processes on this machine) or ``ray`` (actors on a Ray cluster).

``open_pool`` sizes the pool — one worker per GPU when CUDA is used, otherwise one per machine unless
``workers`` says otherwise — and splits the CPU cores between the workers; ``run_tasks`` runs tasks on it
with one retry policy for both engines. ``animcli batch`` and the sharded ``animcli eval`` are built on these.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from animcli.common.choices import ENGINES, Engine
from animcli.common.errors import AnimcliError
from animcli.jobs.scheduler import Outcome, WorkerPool, run_tasks
from animcli.jobs.tasks import Task, threads_per_worker


@dataclass(frozen=True)
class EngineOptions:
    engine: Engine = "local"
    workers: int | None = None  # None: one per GPU when CUDA is used, else one per machine
    address: str | None = None  # Ray only: auto, ray://host:port, or None to start Ray on this machine
    retries: int = 2

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise AnimcliError(f"unknown engine {self.engine!r} (use {' or '.join(ENGINES)})")
        if self.address is not None and self.engine != "ray":
            raise AnimcliError("--address is for --engine ray")
        if self.workers is not None and self.workers < 1:
            raise AnimcliError("--workers must be at least 1")
        if self.retries < 0:
            raise AnimcliError("--retries cannot be negative")


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def wants_cuda(devices: Iterable[str], cuda_present: bool) -> bool:
    """Whether tasks asking for ``devices`` will run on CUDA where ``cuda_present`` says GPUs exist."""
    return any(device.startswith("cuda") or (device == "auto" and cuda_present) for device in devices)


@contextlib.contextmanager
def open_pool(options: EngineOptions, devices: Iterable[str] = ("auto",), tasks: int | None = None
              ) -> Iterator[WorkerPool]:
    """A started pool for ``tasks`` tasks that use ``devices`` (never more workers than tasks); every worker is
    stopped when the block ends."""
    open_engine = _local_pool if options.engine == "local" else _ray_pool
    with open_engine(options, set(devices), tasks or sys.maxsize) as pool:
        yield pool


@contextlib.contextmanager
def _local_pool(options: EngineOptions, devices: set[str], tasks: int) -> Iterator[WorkerPool]:
    import torch

    from animcli.jobs.local import LocalPool

    gpus = torch.cuda.device_count() if wants_cuda(devices, torch.cuda.is_available()) else 0
    workers = min(options.workers or gpus or 1, tasks)
    with LocalPool(workers, threads_per_worker(available_cores(), workers), gpus) as pool:
        yield pool


RAY_TOKEN_NOTICES = "ray._private.authentication.authentication_token_setup"


@contextlib.contextmanager
def _ray_pool(options: EngineOptions, devices: set[str], tasks: int) -> Iterator[WorkerPool]:
    from animcli.jobs.ray_pool import RayPool, import_ray

    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        # Ray announces on every start that token authentication is on (its safe default): not the user's concern.
        logging.getLogger(RAY_TOKEN_NOTICES).setLevel(logging.ERROR)
        try:
            ray.init(address=options.address, include_dashboard=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise AnimcliError(f"cannot connect to Ray at {options.address or 'a new local instance'}: {exc}") from None
    try:
        resources = ray.cluster_resources()
        cluster_gpus = int(resources.get("GPU", 0))
        gpus = cluster_gpus if wants_cuda(devices, cluster_gpus > 0) else 0
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        workers = min(options.workers or gpus or max(1, nodes), tasks)
        with RayPool(ray, workers, int(resources.get("CPU", 1)), gpus) as pool:
            yield pool
    finally:
        if started_here:
            ray.shutdown()


__all__ = ["ENGINES", "EngineOptions", "Outcome", "Task", "WorkerPool", "available_cores", "open_pool", "run_tasks",
           "wants_cuda"]
