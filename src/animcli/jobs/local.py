"""The local engine: worker processes on this machine, each with its own pipe, its models and its share of
the cores (and, when CUDA is used, its own GPU).

Each worker is watched through its pipe and its process sentinel, so a worker that dies mid-task (killed,
out of memory) is noticed at once and replaced; ``concurrent.futures`` would instead break the whole pool
and fail every task in flight. Workers are started with ``spawn``: safe with CUDA and with the parent's
threads, at the cost of importing torch once per worker.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import warnings
from multiprocessing.connection import Connection, wait
from typing import Any

from animcli.common.interrupts import die_with_parent, terminate_on_sigterm
from animcli.jobs.scheduler import Died, Finished, WorkerPool
from animcli.jobs.tasks import Task, execute, limit_threads


def _worker_main(connection: Connection, threads: int, gpu: int | None, parent: int) -> None:
    # Terminating a worker unwinds it, so atomic writers remove their temporary files; it is terminated when its
    # parent ends, too (even by SIGKILL), instead of finishing a job unattended. Ctrl-C is the parent's to handle.
    terminate_on_sigterm()
    die_with_parent(parent)
    warnings.showwarning = _one_line_warning  # on the shared stderr, as the CLI shows its own warnings
    try:
        if gpu is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
        limit_threads(threads)
        from animcli.workflows.request import ModelCache

        models = ModelCache()
        while (task := connection.recv()) is not None:
            connection.send(execute(task, models))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):  # terminated, or the parent's end of the pipe is gone
        sys.exit(128 + signal.SIGTERM)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: object = None, line: str | None = None) -> None:
    print(f"animcli: warning: {message}", file=sys.stderr, flush=True)


class LocalPool(WorkerPool):
    """``workers`` processes with ``threads`` threads each; with ``gpus`` > 0 worker i sees only GPU i % gpus."""

    def __init__(self, workers: int, threads: int, gpus: int = 0) -> None:
        self.size, self.threads, self.gpus = workers, threads, gpus
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[tuple[Any, Connection]] = [self._start(slot) for slot in range(workers)]
        self.busy: set[int] = set()

    def _start(self, slot: int) -> tuple[Any, Connection]:
        parent_end, child_end = self.context.Pipe()
        gpu = slot % self.gpus if self.gpus else None
        process = self.context.Process(target=_worker_main, args=(child_end, self.threads, gpu, os.getpid()),
                                       daemon=True, name=f"animcli-worker-{slot}")
        process.start()
        child_end.close()
        return process, parent_end

    def submit(self, slot: int, task: Task) -> None:
        try:
            self.workers[slot][1].send(task)
        except OSError:  # the worker died while idle (e.g. the OOM killer chose it): start another for the task
            self.replace(slot)
            self.workers[slot][1].send(task)
        self.busy.add(slot)

    def wait(self) -> list[Finished | Died]:
        watched = {}
        for slot in self.busy:
            process, connection = self.workers[slot]
            watched[connection] = watched[process.sentinel] = slot
        ready = {watched[handle] for handle in wait(list(watched))}
        events: list[Finished | Died] = []
        for slot in sorted(ready):
            process, connection = self.workers[slot]
            try:
                events.append(Finished(slot, connection.recv()))
            except (EOFError, OSError):
                process.join()
                events.append(Died(slot, _exit_reason(process.exitcode)))
            self.busy.discard(slot)
        return events

    def replace(self, slot: int) -> None:
        self.workers[slot][1].close()
        self.workers[slot] = self._start(slot)

    def close(self) -> None:
        for slot, (process, connection) in enumerate(self.workers):
            if slot in self.busy:
                process.terminate()
            else:
                try:
                    connection.send(None)
                except OSError:
                    process.terminate()
        for process, connection in self.workers:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
            connection.close()


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"
