"""A rich progress bar on stderr (frames, fps, ETA) shared by long-running commands."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def frame_progress(quiet: bool, description: str) -> Iterator[Callable[[int, int | None], None]]:
    """Yields ``update(done, total)``; draws nothing when ``quiet``."""
    if quiet:
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[fps]}"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(description, total=None, fps="")

        def update(done: int, total: int | None) -> None:
            speed = progress.tasks[0].speed
            progress.update(task, completed=done, total=total, fps=f"{speed:.1f} fps" if speed else "")

        yield update
