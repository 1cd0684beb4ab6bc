"""Running a list of tasks on a pool of workers, whatever the pool is made of (local processes, Ray actors).

The pool only starts workers, hands one task to an idle worker and reports what came back or which worker
died. The retry policy lives here, once: a worker that dies mid-task is replaced and the task retried, up to
``retries`` times; a task that raised an unexpected error is retried the same way; a task that failed for a
bad input (``AnimcliError``) is not.
"""

from __future__ import annotations

import collections
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from animcli.jobs.tasks import Task, TaskResult


@dataclass(frozen=True)
class Finished:
    slot: int
    result: TaskResult


@dataclass(frozen=True)
class Died:
    slot: int
    reason: str


class WorkerPool(ABC):
    """``size`` workers, addressed by slot 0…size-1, each running one task at a time."""

    size: int

    @abstractmethod
    def submit(self, slot: int, task: Task) -> None:
        """Start ``task`` on the idle worker ``slot``."""

    @abstractmethod
    def wait(self) -> list[Finished | Died]:
        """Block until at least one busy worker has finished its task or died."""

    @abstractmethod
    def replace(self, slot: int) -> None:
        """Start a fresh worker in the place of the dead one at ``slot``."""

    @abstractmethod
    def close(self) -> None:
        """Stop every worker (busy ones included)."""

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


@dataclass(frozen=True)
class Outcome:
    """The final word on one task: its value, or why it failed after ``attempts`` tries; ``seconds`` is how
    long its last attempt ran."""

    index: int
    value: Any = None
    error: str | None = None
    attempts: int = 1
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def run_tasks(pool: WorkerPool, tasks: Sequence[Task], retries: int = 2) -> Iterator[Outcome]:
    """Run every task on ``pool``; yields each task's :class:`Outcome` as it is settled (completion order)."""
    pending = collections.deque(range(len(tasks)))
    attempts = [0] * len(tasks)
    started = [0.0] * len(tasks)
    idle = list(range(pool.size))[::-1]
    busy: dict[int, int] = {}  # slot → task index
    while pending or busy:
        while pending and idle:
            slot, index = idle.pop(), pending.popleft()
            attempts[index] += 1
            started[index] = time.perf_counter()
            pool.submit(slot, tasks[index])
            busy[slot] = index
        for event in pool.wait():
            index = busy.pop(event.slot)
            if isinstance(event, Died):
                pool.replace(event.slot)
                error, retryable = f"worker died ({event.reason})", True
            else:
                error, retryable = event.result.error, event.result.retryable
            idle.append(event.slot)
            if error is not None and retryable and attempts[index] <= retries:
                pending.appendleft(index)
                continue
            if error is not None and attempts[index] > 1:
                error = f"{error} (after {attempts[index]} attempts)"
            if isinstance(event, Died):
                yield Outcome(index, None, error, attempts[index], time.perf_counter() - started[index])
            else:
                yield Outcome(index, event.result.value, error, attempts[index], event.result.seconds)
