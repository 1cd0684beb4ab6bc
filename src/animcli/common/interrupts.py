"""Ctrl-C and SIGTERM stop a run cleanly, whatever it is doing.

``timeout``, ``kill``, systemd, Kubernetes and Ray stop processes with SIGTERM, whose default action ends the
process on the spot: no ``finally`` runs, so temporary outputs stay behind. Inside :func:`stop_on_signals`
both signals instead raise in the main thread — ``KeyboardInterrupt`` for SIGINT, :class:`Terminated` (a
``KeyboardInterrupt``) for SIGTERM — so the stack unwinds exactly as for Ctrl-C: every writer discards its
temporary file, training saves its checkpoint.

An exception raised by a signal handler can be swallowed when it lands in a destructor or a callback (Python
then prints "Exception ignored in …" and carries on), so the signal is also remembered, and the media layer
calls :func:`raise_if_stopped` for every frame it reads or writes: a run stops within one frame either way.
Python's report of such a swallowed interruption ("Exception ignored in …" with a traceback) is silenced.

Worker processes (``animcli batch``, sharded ``eval``) take SIGTERM the same way (:func:`terminate_on_sigterm`) — a
bare ``sys.exit`` in a handler could land inside a weakref callback such as logging's ``_removeHandlerRef`` and
print "Exception ignored … _releaseLock" with a traceback — and die with their parent (:func:`die_with_parent`):
the kernel sends them SIGTERM when the parent ends, even by SIGKILL, so no worker finishes a job unattended.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType

from animcli.common.errors import Terminated

_pending: int | None = None


def _interruption(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _pending
    repeated = _pending is not None
    _pending = _pending or signum
    # A repeated SIGTERM must not break into the clean-up the first one started; a repeated Ctrl-C is the user
    # insisting, and does.
    if not repeated or signum == signal.SIGINT:
        raise _interruption(signum)


def raise_if_stopped() -> None:
    """Raise the pending interruption, if a signal arrived whose exception was swallowed somewhere."""
    if _pending is not None:
        raise _interruption(_pending)


def _quiet_about_interruptions(previous_hook):  # noqa: ANN001, ANN202 - sys.unraisablehook's own types
    def hook(unraisable) -> None:  # noqa: ANN001
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous_hook(unraisable)

    return hook


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Inside the block, SIGINT and SIGTERM interrupt the main thread (elsewhere: no change)."""
    global _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    previous_hook, sys.unraisablehook = sys.unraisablehook, _quiet_about_interruptions(sys.unraisablehook)
    _pending = None
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = previous_hook
        _pending = None


def terminate_on_sigterm() -> None:
    """For a worker process, for its whole life: SIGTERM raises :class:`Terminated` in the main thread (remembered
    for :func:`raise_if_stopped` too), and a swallowed one is not reported, exactly as inside
    :func:`stop_on_signals`. SIGINT is ignored: a terminal's Ctrl-C reaches the whole process group, and the
    parent decides what happens to its workers."""
    global _pending
    _pending = None
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_signal)
    sys.unraisablehook = _quiet_about_interruptions(sys.unraisablehook)


#: prctl option: the signal the kernel sends this process when its parent ends (Linux).
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Have SIGTERM sent to this process when the process ``parent_pid`` ends, however it ends: the kernel's
    parent-death signal on Linux, else a thread that watches the parent id. Call it first thing in a child."""
    libc_name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    if libc_name is not None:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0:
            if os.getppid() != parent_pid:  # the parent ended before the signal was armed
                os.kill(os.getpid(), signal.SIGTERM)
            return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="animcli-parent-watch", daemon=True).start()
