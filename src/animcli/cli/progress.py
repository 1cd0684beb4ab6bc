"""A rich progress bar on stderr (frames, fps, ETA) shared by long-running commands."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def frame_progress(quiet: bool, description: str, unit: str = "fps") -> Iterator[Callable[[int, int | None], None]]:
    """Yields ``update(done, total)``. The bar appears at the first update, so input errors found before any
    work is done print as a single line; nothing is drawn when ``quiet``."""
    if quiet:
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[fps]}"), TimeRemainingColumn(), console=Console(stderr=True))
    state: dict[str, Any] = {}

    def update(done: int, total: int | None) -> None:
        if "task" not in state:
            progress.start()
            state["task"] = progress.add_task(description, total=total, fps="")
        speed = progress.tasks[0].speed
        progress.update(state["task"], completed=done, total=total, fps=f"{speed:.1f} {unit}" if speed else "")

    try:
        yield update
    finally:
        if "task" in state:
            progress.stop()
