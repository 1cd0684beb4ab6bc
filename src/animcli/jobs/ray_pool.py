"""The Ray engine: a pool of actors on a Ray cluster (or a Ray instance started on this machine).

Each actor keeps its models between tasks like a local worker, reserves its share of CPUs (and one GPU when
CUDA is used) so Ray places actors where those resources are free, and limits its intra-op threads to the
CPUs it reserved. An actor that dies (its process killed, its node lost) is replaced by a new one.
"""

from __future__ import annotations

from typing import Any

from animcli.common.errors import AnimcliError
from animcli.jobs.scheduler import Died, Finished, WorkerPool
from animcli.jobs.tasks import Task, TaskResult, execute, limit_threads, threads_per_worker


class RayWorker:
    """The actor's class (wrapped with ``ray.remote`` when the pool starts)."""

    def __init__(self, threads: int) -> None:
        from animcli.workflows.request import ModelCache

        limit_threads(threads)
        self.models = ModelCache()

    def run(self, task: Task) -> TaskResult:
        return execute(task, self.models)


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise AnimcliError("--engine ray needs Ray: pip install 'animcli[ray]'") from None
    return ray


class RayPool(WorkerPool):
    """``workers`` actors sharing the cluster's ``cpus`` (and ``gpus``) equally.

    An actor holds what it reserved for its whole life, so the reservations must fit in the cluster at once
    (an actor that cannot be placed would wait forever): more workers than CPUs get a fraction of one each.
    """

    def __init__(self, ray: Any, workers: int, cpus: int, gpus: int = 0) -> None:
        self.ray, self.size = ray, workers
        self.threads = threads_per_worker(cpus, workers)
        cpus_each = self.threads if self.threads * workers <= cpus else cpus / workers
        gpus_each = min(1.0, gpus / workers) if gpus else 0
        self.actor_class = ray.remote(num_cpus=cpus_each, num_gpus=gpus_each, max_restarts=0)(RayWorker)
        self.actors = [self._start() for _ in range(workers)]
        self.running: dict[Any, int] = {}  # object ref → slot

    def _start(self) -> Any:
        return self.actor_class.remote(self.threads)

    def submit(self, slot: int, task: Task) -> None:
        self.running[self.actors[slot].run.remote(task)] = slot

    def wait(self) -> list[Finished | Died]:
        ready, _ = self.ray.wait(list(self.running), num_returns=1)
        events: list[Finished | Died] = []
        for ref in ready:
            slot = self.running.pop(ref)
            try:
                events.append(Finished(slot, self.ray.get(ref)))
            except self.ray.exceptions.RayActorError as exc:
                events.append(Died(slot, f"Ray actor lost: {type(exc).__name__}"))
            except self.ray.exceptions.RayError as exc:  # e.g. the task could not be unpickled on the node
                last_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                events.append(Finished(slot, TaskResult(error=last_line, retryable=True)))
        return events

    def replace(self, slot: int) -> None:
        self.ray.kill(self.actors[slot], no_restart=True)
        self.actors[slot] = self._start()

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
