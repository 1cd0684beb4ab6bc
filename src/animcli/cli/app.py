"""The Typer application object and the error boundary shared by every command module.

Command modules must not import torch (or anything that does) at module level: ``animcli --help`` has to
stay fast, so heavy imports happen inside the command functions.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

import click
import typer
from typer.core import TyperGroup

from animcli.models.families import FAMILIES  # torch-free descriptors


class UniformGroup(TyperGroup):
    """Names every argument, and every repeatable option without a metavar of its own, after its parameter in
    capitals ({SOURCE}, --edit EDIT), as the explicit metavars (N, TIME, INPUT) are, instead of Typer's
    lower-case names and type dumps ({source}, <list[str]>): one style in every help."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        for parameter in command.params if command is not None else ():
            unnamed = parameter.metavar is None and parameter.name is not None
            if unnamed and (parameter.param_type_name == "argument" or getattr(parameter, "multiple", False)):
                parameter.metavar = parameter.name.upper()
        return command


# Click's plain help layout, not rich's boxed table: in an 80-column terminal the table squeezes six columns
# and cuts option names ("--no-adapt-sca…") and shows "<bool>" on flags; the plain layout wraps help text and
# keeps every option name whole. Every Typer of the CLI uses it, and one metavar style (UniformGroup).
HELP_LAYOUT: dict[str, Any] = {"rich_markup_mode": None, "cls": UniformGroup}

#: the top-level help's first line, naming every family animcli knows.
SUMMARY = ("Animate a still image with the motion of a driving video "
           f"({', '.join(family.title for family in FAMILIES.values())}).")

app = typer.Typer(
    name="animcli",
    help=SUMMARY,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    **HELP_LAYOUT,
)


def _print_version(requested: bool) -> None:
    if requested:
        from importlib.metadata import version

        typer.echo(f"animcli {version('animcli')}")
        raise typer.Exit()


@app.callback(help=SUMMARY)
def root(_version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="Print animcli's version and exit.")) -> None:
    pass


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one ``animcli: error:`` line on stderr and return the Exit to raise."""
    typer.echo(f"animcli: error: {message}", err=True)
    return typer.Exit(code)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    typer.echo(f"animcli: warning: {message}", err=True)


@contextlib.contextmanager
def reported_warnings() -> Iterator[None]:
    """Show the library's warnings as ``animcli: warning: …`` lines (no file name, no source line)."""
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        yield
    finally:
        warnings.showwarning = previous


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """The one error boundary every command runs in: any exception becomes one ``animcli: error:`` line with the
    exit code documented in :mod:`animcli.common.errors` (``ANIMCLI_DEBUG=1`` prints the traceback first). SIGTERM is
    handled like Ctrl-C, and the inputs the command opens are protected from being written over."""
    from animcli.common.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, AnimcliError, Terminated
    from animcli.common.files import run_scope
    from animcli.common.interrupts import stop_on_signals

    try:
        with stop_on_signals(), run_scope(), reported_warnings():
            yield
    except (click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
        raise
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`); nothing left to report to.
        sys.stderr.close()
        raise typer.Exit(1) from None
    except BaseException as exc:
        if not isinstance(exc, Exception | KeyboardInterrupt):
            raise  # SystemExit, GeneratorExit
        _show_traceback_when_debugging()
        if isinstance(exc, Terminated):
            raise fail("terminated", EXIT_TERMINATED) from None
        if isinstance(exc, KeyboardInterrupt):
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        if isinstance(exc, AnimcliError):
            raise fail(str(exc), exc.exit_code) from None
        raise fail(*describe_failure(exc)) from None


def _show_traceback_when_debugging() -> None:
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        traceback.print_exc()


DEBUG_ENV = "ANIMCLI_DEBUG"

#: OSError numbers that mean the user pointed us at a path we cannot use (bad input) rather than a failing machine.
_PATH_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                errno.ENAMETOOLONG, errno.ELOOP}


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """One line and an exit code for an exception the library did not turn into an ``AnimcliError``."""
    from animcli.common.errors import EXIT_BAD_INPUT, EXIT_FAILURE

    if isinstance(exc, OSError) and exc.errno is not None:
        where = f": {exc.filename}" if exc.filename else ""
        reason = (exc.strerror or os.strerror(exc.errno)).lower()
        return f"{reason}{where}", EXIT_BAD_INPUT if exc.errno in _PATH_ERRNOS else EXIT_FAILURE
    if isinstance(exc, MemoryError):
        return "out of memory", EXIT_FAILURE
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (f"unexpected {type(exc).__name__}{': ' + detail if detail else ''} "
            f"(set {DEBUG_ENV}=1 to see the traceback)"), EXIT_FAILURE
