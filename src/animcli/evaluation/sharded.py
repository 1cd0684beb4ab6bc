"""The reconstruction protocol with the test videos spread over a pool of workers (``eval --engine``).

Each video is one task: its worker reconstructs and scores it with exactly the code of the single-process
run (:func:`~animcli.evaluation.reconstruct.reconstruct_videos`), so per-video records — and the overall
scores merged from them in name order — are the same; only the wall-clock time changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from animcli.common.errors import AnimcliError
from animcli.evaluation.metrics import Metric, select_metrics
from animcli.evaluation.reconstruct import reconstruct_videos
from animcli.evaluation.report import VideoRecord
from animcli.inference.smoothing import Smoothing
from animcli.jobs.pools import EngineOptions, open_pool, run_tasks
from animcli.jobs.tasks import worker_threads
from animcli.media.readers import InputLimits
from animcli.workflows.request import ModelCache, ModelSpec


@dataclass(frozen=True)
class ReconstructVideo:
    """One test video to reconstruct and score in a worker (the worker keeps the model between videos)."""

    name: str
    path: Path
    model: ModelSpec
    metrics: tuple[str, ...]
    batch_size: int | str | None = None
    precision: str = "auto"
    backend: str = "torch"
    threads: int | None = None
    frames_dir: Path | None = None
    smoothing: Smoothing | None = None
    limits: InputLimits = InputLimits()

    def run(self, models: ModelCache) -> VideoRecord:
        selected, _ = select_metrics(list(self.metrics))
        with self.limits.applied():
            records = reconstruct_videos(models.get(self.model), {self.name: self.path}, selected,
                                         batch_size=self.batch_size, precision=self.precision, backend=self.backend,
                                         threads=self.threads or worker_threads(), frames_dir=self.frames_dir,
                                         smoothing=self.smoothing)
            return next(records)


def reconstruct_sharded(model: ModelSpec, videos: dict[str, Path], metrics: list[Metric], engine: EngineOptions,
                        *, batch_size: int | str | None = None, precision: str = "auto", backend: str = "torch",
                        threads: int | None = None, frames_dir: Path | None = None, smoothing: Smoothing | None = None
                        ) -> Iterator[VideoRecord]:
    """Like ``reconstruct_videos`` (same records, same order), the videos shared between ``engine``'s workers.
    A video that fails stops the evaluation with its error, as in a single process; the workers check their
    inputs as this process does (``--strict``, ``--max-pixels``)."""
    names = tuple(metric.name for metric in metrics)
    limits = InputLimits.current()
    tasks = [ReconstructVideo(name, path, model, names, batch_size, precision, backend, threads, frames_dir, smoothing,
                              limits) for name, path in videos.items()]
    settled: dict[int, VideoRecord] = {}
    next_index = 0
    with open_pool(engine, [model.device], len(tasks)) as pool:
        for outcome in run_tasks(pool, tasks, engine.retries):
            if not outcome.ok:
                raise AnimcliError(str(outcome.error))
            settled[outcome.index] = outcome.value
            while next_index in settled:  # in order, as soon as every earlier video is done
                yield settled.pop(next_index)
                next_index += 1
