"""``animcli batch JOBS.jsonl``: many animate jobs on a pool of local workers or a Ray cluster."""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from animcli.cli.app import app, user_errors
from animcli.cli.options import AddressOption, EngineOption, QuietOption, WorkersOption


@app.command()
def batch(
    jobs_file: Path = typer.Argument(..., metavar="JOBS.jsonl",
                                     help="One JSON object per line: source, driving, output and any animate "
                                          "option in snake_case (e.g. \"adapt_scale\": true). Relative paths "
                                          "resolve against the manifest's folder."),
    engine: EngineOption = "local",
    workers: WorkersOption = None,
    address: AddressOption = None,
    retries: int = typer.Option(2, "--retries", min=0,
                                help="Times a job is retried when its worker dies (bad inputs are not retried)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo jobs whose output exists (default: skip them)."),
    report_file: Path = typer.Option(None, "--report", help="Write the per-job report (JSON) to this file."),
    json_output: bool = typer.Option(False, "--json", help="Print the per-job report (JSON) on stdout."),
    quiet: QuietOption = False,
) -> None:
    """Run every animate job of JOBS.jsonl; a rerun skips the jobs already done.

    Exit code 0 when every job is ok or skipped, 1 when some failed (the report says which), 2 for bad usage
    (a malformed manifest is reported with its line number before any job runs).
    """
    with user_errors():
        from animcli.common.errors import AnimcliError
        from animcli.common.files import atomic_path
        from animcli.jobs.batch import read_manifest, run_batch
        from animcli.jobs.pools import EngineOptions

        options = EngineOptions(engine or "local", workers, address, retries)
        jobs = read_manifest(jobs_file)
        with job_progress(quiet, len(jobs)) as on_record:
            report = run_batch(jobs, options, overwrite=overwrite, on_record=on_record)
        document = json.dumps(report.as_dict(), indent=2)
        if report_file is not None:
            try:
                with atomic_path(report_file) as temporary:
                    temporary.write_text(document + "\n", encoding="utf-8")
            except OSError as exc:
                raise AnimcliError(f"{report_file}: cannot write the report ({exc.strerror})") from None
    if json_output:
        typer.echo(document)
    if not quiet:
        _print_summary(report)
    if report.count("failed"):
        raise typer.Exit(1)


def _print_summary(report: Any) -> None:
    for record in sorted(report.jobs, key=lambda record: record.line):
        if record.status == "failed":
            typer.echo(f"line {record.line} ({record.output}) failed: {record.error}", err=True)
    rate = f", {report.frames / report.seconds:.1f} frames/s" if report.seconds else ""
    typer.echo(f"{report.count('ok')} ok, {report.count('skipped')} skipped, {report.count('failed')} failed "
               f"({report.frames} frames in {report.seconds:.1f} s on {report.workers} "
               f"worker{'' if report.workers == 1 else 's'}{rate})", err=True)


@contextlib.contextmanager
def job_progress(quiet: bool, total: int) -> Iterator[Callable[[Any], None]]:
    """Yields ``update(record)`` for each settled job: a bar over jobs with the ok/failed/skipped counts,
    frames/s since the start and the ETA, on stderr."""
    if quiet:
        yield lambda record: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("jobs"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
                        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=Console(stderr=True))
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    task = progress.add_task("jobs", total=total, counts="", rate="")

    def update(record: Any) -> None:
        counts[record.status] += 1
        counts["frames"] += record.frames
        elapsed = time.perf_counter() - started
        progress.update(task, advance=1,
                        counts=f"ok {counts['ok']} · failed {counts['failed']} · skipped {counts['skipped']}",
                        rate=f"{counts['frames'] / elapsed:.1f} frames/s" if counts["frames"] else "")

    with progress:
        yield update
