"""Decode, compute and encode overlapped: background threads joined to the main loop by bounded queues.

The queues hold a few items at most, so memory stays flat in the video's length; decoders, resizers and
encoders (OpenCV, ffmpeg pipes, numpy) release the GIL, so the threads really run beside the model.
Errors in a background thread are raised in the caller's thread, at its next interaction.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.1
#: how long an interrupted run waits for a background thread to notice the stop before leaving it behind (the
#: threads are daemons, so the process still exits: a thread stuck in a read must not hang a Ctrl-C or SIGTERM)
_ABANDON_SECONDS = 10.0
_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _StoppableQueue:
    """A bounded queue whose blocking ``put`` gives up once ``stop`` is set."""

    def __init__(self, depth: int) -> None:
        if depth < 1:
            raise ValueError("queue depth must be at least 1")
        self.items: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()

    def put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.items.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False


def prefetched(items: Iterable[T], depth: int) -> Iterator[T]:
    """``items``, produced by a background thread at most ``depth`` ahead of the consumer."""
    channel = _StoppableQueue(depth)

    def produce() -> None:
        try:
            for item in items:
                if not channel.put(item):
                    return
            channel.put(_END)
        except BaseException as exc:  # handed to the consumer, who raises it
            channel.put(_Failure(exc))

    thread = threading.Thread(target=produce, name="animcli-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = channel.items.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        channel.stop.set()
        thread.join(_ABANDON_SECONDS)


class Background(Generic[T]):
    """Runs ``work(item)`` on submitted items in one background thread, in order, at most ``depth`` waiting.

    Use as a context manager: a clean exit waits for the queued work and raises its first error; an exit by
    exception abandons the queued work.
    """

    def __init__(self, work: Callable[[T], None], depth: int) -> None:
        self.work = work
        self.channel = _StoppableQueue(depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._consume, name="animcli-background", daemon=True)

    def __enter__(self) -> Background[T]:
        self.thread.start()
        return self

    def _consume(self) -> None:
        while True:
            item = self.channel.items.get()
            if item is _END:
                return
            try:
                self.work(item)
            except BaseException as exc:  # raised in the submitting thread
                self.error = exc
                self.channel.stop.set()
                return

    def submit(self, item: T) -> None:
        self._raise_error()
        if not self.channel.put(item):
            self._raise_error()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.channel.put(_END)  # gives up only when the worker has stopped on an error
        else:
            self.channel.stop.set()
            _drain(self.channel.items)
            self.channel.items.put(_END)  # the queue is empty now, and only this thread submits
        self.thread.join(None if exc_type is None else _ABANDON_SECONDS)
        if exc_type is None:
            self._raise_error()


def _drain(items: queue.Queue[Any]) -> None:
    while True:
        try:
            items.get_nowait()
        except queue.Empty:
            return
