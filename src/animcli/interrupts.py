"""SIGTERM handled like Ctrl-C.

``timeout``, ``kill``, systemd, Kubernetes and Ray stop processes with SIGTERM, whose default action ends the
process on the spot: no ``finally`` runs, so temporary outputs stay behind. Raising :class:`Terminated` (a
``KeyboardInterrupt``) from the handler instead unwinds the stack exactly as Ctrl-C does: every writer discards
its temporary file, training saves its checkpoint. Handlers run in the main thread between two Python
instructions, so every per-frame loop (decoding, detection, inference) notices the signal within one frame.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from animcli.errors import Terminated


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    # One-shot: a second SIGTERM must not interrupt the clean-up the first one started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM raises :class:`Terminated` in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
