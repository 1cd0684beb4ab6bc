"""``animcli batch``: many animate jobs from a manifest, on a pool of workers (local processes or Ray actors).

Jobs whose output already exists are skipped (unless ``overwrite``), the rest run on the pool; jobs that use
the same model are dispatched one after another, so each worker keeps finding its model loaded. One job's
failure never stops the others; each produces a :class:`JobRecord`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from animcli.jobs.manifest import Job, ManifestError, read_manifest
from animcli.jobs.pools import EngineOptions, Outcome, open_pool, run_tasks

JobStatus = Literal["ok", "skipped", "failed"]


@dataclass(frozen=True)
class JobRecord:
    line: int
    output: str
    status: JobStatus
    error: str | None = None
    frames: int = 0
    seconds: float = 0.0
    attempts: int = 0


@dataclass
class BatchReport:
    jobs: list[JobRecord] = field(default_factory=list)
    workers: int = 0
    seconds: float = 0.0

    def count(self, status: JobStatus) -> int:
        return sum(record.status == status for record in self.jobs)

    @property
    def frames(self) -> int:
        return sum(record.frames for record in self.jobs)

    def as_dict(self) -> dict[str, Any]:
        summary = {status: self.count(status) for status in ("ok", "skipped", "failed")}
        return {"summary": {**summary, "jobs": len(self.jobs), "frames": self.frames, "workers": self.workers,
                            "seconds": round(self.seconds, 3)},
                "jobs": [asdict(record) for record in sorted(self.jobs, key=lambda record: record.line)]}


def run_batch(jobs: list[Job], engine: EngineOptions = EngineOptions(), *, overwrite: bool = False,
              on_record: Callable[[JobRecord], None] | None = None) -> BatchReport:
    """Run ``jobs``; ``on_record`` is called as each job is settled (skipped ones first)."""
    started = time.perf_counter()
    report = BatchReport()

    def settle(record: JobRecord) -> None:
        report.jobs.append(record)
        if on_record is not None:
            on_record(record)

    to_run = []
    for job in jobs:
        if not overwrite and Path(job.request.output).exists():
            settle(JobRecord(job.line, job.request.output, "skipped"))
        else:  # redone on purpose: a frame-folder output is then replaced as a whole
            to_run.append(replace(job, request=replace(job.request, overwrite=True)) if overwrite else job)
    # Stable: jobs on one model stay in manifest order, and run back to back.
    to_run.sort(key=lambda job: repr(job.request.model_spec()))
    if to_run:
        with open_pool(engine, {job.request.device for job in to_run}, len(to_run)) as pool:
            report.workers = pool.size
            for outcome in run_tasks(pool, to_run, engine.retries):
                settle(_record(to_run[outcome.index], outcome))
    report.seconds = time.perf_counter() - started
    return report


def _record(job: Job, outcome: Outcome) -> JobRecord:
    return JobRecord(job.line, job.request.output, "ok" if outcome.ok else "failed", outcome.error,
                     outcome.value or 0, round(outcome.seconds, 3), outcome.attempts)


__all__ = ["BatchReport", "Job", "JobRecord", "ManifestError", "read_manifest", "run_batch"]
