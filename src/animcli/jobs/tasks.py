"""What runs inside a worker: a task, the state a worker keeps between tasks, and a result that travels back.

A task is any picklable object with ``run(models) -> value``; ``models`` is the worker's
:class:`~animcli.workflows.request.ModelCache`, so every task on that worker that needs a model already loaded finds it
there. Exceptions never cross the process boundary as objects: :func:`execute` turns them into a message and
says whether retrying could help (a bad input fails the same way every time; anything else might not).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol

from animcli.common.errors import AnimcliError
from animcli.workflows.request import ModelCache

#: Environment variables the math libraries read for their thread pools, set before torch is imported.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: A worker's share of the cores, for tasks that set their thread count themselves.
WORKER_THREADS = "ANIMCLI_WORKER_THREADS"


class Task(Protocol):
    def run(self, models: ModelCache) -> Any:
        """Do the work in a worker; the returned value must be picklable."""


@dataclass(frozen=True)
class TaskResult:
    value: Any = None
    error: str | None = None
    retryable: bool = False
    seconds: float = 0.0


def execute(task: Task, models: ModelCache) -> TaskResult:
    started = time.perf_counter()
    try:
        value = task.run(models)
    except AnimcliError as exc:
        return TaskResult(error=str(exc), seconds=time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - a task's failure is reported, never allowed to end the worker
        return TaskResult(error=f"{type(exc).__name__}: {exc}", retryable=True, seconds=time.perf_counter() - started)
    return TaskResult(value=value, seconds=time.perf_counter() - started)


def limit_threads(threads: int) -> None:
    """Give this worker process ``threads`` intra-op threads: workers sharing a machine each get their share
    of the cores, because PyTorch processes that each use every core slow each other down many times over.
    PyTorch reads the variables when it is first imported (by the first task); if it already was, it is told."""
    for variable in (*THREAD_VARIABLES, WORKER_THREADS):
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def threads_per_worker(cores: int, workers: int) -> int:
    return max(1, cores // max(1, workers))


def worker_threads() -> int | None:
    """This worker's share of the cores (None outside a worker)."""
    value = os.environ.get(WORKER_THREADS)
    return int(value) if value else None
