"""Progress on stderr for long-running commands: a rich bar (frames, fps, ETA), and training progress."""

from __future__ import annotations

import contextlib
import math
import time
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


# A plain progress line (stderr not a terminal: logs, CI, nohup) at most this often, in seconds.
PLAIN_LINE_SECONDS = 10.0


class TrainingProgress:
    """`animcli train`'s progress: step/total, steps/s and ETA with the latest losses, as a rich bar on a
    terminal and otherwise as a plain line every ``PLAIN_LINE_SECONDS`` and at the last step. Implements
    ``animcli.train.TrainingReporter``; use it as a context manager."""

    def __init__(self, family: str, quiet: bool) -> None:
        from rich.console import Console

        self.family = family
        self.quiet = quiet
        self.console = Console(stderr=True)
        self.first_step = self.step = self.epoch = self.total = 0
        self.printed_step: int | None = None
        self.losses = ""
        self.started = self.last_line = 0.0
        self.bar: Any = None
        self.preparation_bar: Any = None

    def __enter__(self) -> TrainingProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._end_preparation()
        if self.bar is not None:
            self.bar.stop()
        elif self.step != self.printed_step and self.step > self.first_step:
            self._plain_line()

    def preparing(self, what: str, done: int, total: int) -> None:
        """Work before the first step (a predictor's keypoint extraction): a bar with its ETA on a terminal,
        otherwise a plain line every ``PLAIN_LINE_SECONDS`` and at the end."""
        if self.quiet:
            return
        if done == 0:
            self.started = self.last_line = time.monotonic()
            if self.console.is_terminal:
                self.preparation_bar = self._preparation_bar(what, total)
        elif self.preparation_bar is not None:
            self.preparation_bar.update(self.preparation_bar.task_ids[0], completed=done)
        elif time.monotonic() - self.last_line >= PLAIN_LINE_SECONDS or done >= total:
            self.last_line = time.monotonic()
            rate = done / max(self.last_line - self.started, 1e-9)
            self.console.print(f"train {self.family}: {what} {done}/{total}, {rate:.1f}/s, "
                               f"ETA {_clock((total - done) / rate)}", highlight=False, soft_wrap=True)

    def _end_preparation(self) -> None:
        if self.preparation_bar is not None:
            self.preparation_bar.stop()
            self.preparation_bar = None

    def start(self, step: int, epoch: int, total: int) -> None:
        self._end_preparation()
        self.first_step = self.step = step
        self.epoch, self.total = epoch, total
        self.started = self.last_line = time.monotonic()
        if step:
            self.console.print(f"resuming at step {step}/{total} (epoch {epoch})", highlight=False)
        if not self.quiet and self.console.is_terminal:
            self.bar = self._rich_bar()

    def update(self, step: int, epoch: int, losses: dict[str, float], health: dict[str, float]) -> None:
        from animcli.train.health import summary

        self.step, self.epoch = step, epoch
        self.losses = " ".join(f"{name}={value:.3g}" for name, value in losses.items() if math.isfinite(value))
        self.losses = f"{self.losses} {summary(health)}".strip()
        if self.bar is not None:
            self.bar.update(self.bar.task_ids[0], completed=step, status=self.status())
        elif time.monotonic() - self.last_line >= PLAIN_LINE_SECONDS or step >= self.total:
            self._plain_line()

    def status(self) -> str:
        """`0.42 steps/s, ETA 1:02:03, epoch 3 loss=…`, the rate over this invocation's steps."""
        done, elapsed = self.step - self.first_step, time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = _clock(max(self.total - self.step, 0) / rate) if rate > 0 else "?"
        return f"{rate:.2f} steps/s, ETA {eta}, epoch {self.epoch} {self.losses}".rstrip()

    def _plain_line(self) -> None:
        self.last_line, self.printed_step = time.monotonic(), self.step
        if not self.quiet:
            self.console.print(f"train {self.family}: step {self.step}/{self.total}, {self.status()}",
                               highlight=False, soft_wrap=True)

    def _rich_bar(self) -> Any:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn(f"[bold]train {self.family}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), TextColumn("{task.fields[status]}"), console=self.console)
        bar.add_task("train", total=self.total, completed=self.step, status="")
        bar.start()
        return bar


    def _preparation_bar(self, what: str, total: int) -> Any:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn(f"[bold]train {self.family}[/] {what}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("ETA"), TimeRemainingColumn(), console=self.console)
        bar.add_task(what, total=total)
        bar.start()
        return bar


def _clock(seconds: float) -> str:
    """H:MM:SS."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
