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

try:  # recent typer parses with its own copy of click: its exceptions are that copy's
    from typer import _click as parser_click
except ImportError:  # pragma: no cover - older typer uses click itself
    parser_click = click


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


class AnimcliGroup(UniformGroup):
    """The root command: click's own ways of ending (a usage error's Usage/Try/Error block, exit 1 on a closed
    pipe) made to follow the Guarantees — one ``animcli: error:`` line with the help hint, SIGPIPE's 141."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except parser_click.exceptions.NoArgsIsHelpError as exc:  # `animcli` alone: the help, as before
            exc.show()
            sys.exit(exc.exit_code)
        except parser_click.exceptions.UsageError as exc:
            typer.echo(f"animcli: error: {usage_message(exc)}", err=True)
            sys.exit(exc.exit_code)
        except parser_click.exceptions.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except parser_click.exceptions.Abort:
            typer.echo("animcli: error: aborted", err=True)
            sys.exit(1)
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            try:
                raise_pipe_closed()
            except typer.Exit as exit_:
                sys.exit(exit_.exit_code)
        sys.exit(result if isinstance(result, int) else 0)


def usage_message(error: Any) -> str:
    """``missing argument 'SOURCE' (see 'animcli animate --help')``: click's message on one line, with the hint."""
    message = " ".join(error.format_message().split()).rstrip(".")
    message = message[:1].lower() + message[1:]
    command = error.ctx.command_path if error.ctx is not None else "animcli"
    return f"{message} (see '{command} --help')"


app = typer.Typer(
    name="animcli",
    help=SUMMARY,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    **{**HELP_LAYOUT, "cls": AnimcliGroup},
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
    from animcli.common.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, AnimcliError, OutputClosed, Terminated
    from animcli.common.files import run_scope
    from animcli.common.interrupts import stop_on_signals

    try:
        with stop_on_signals(), run_scope(), reported_warnings():
            yield
    except (click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
        raise
    except BrokenPipeError:
        raise_pipe_closed()
    except BaseException as exc:
        if not isinstance(exc, Exception | KeyboardInterrupt):
            raise  # SystemExit, GeneratorExit
        _show_traceback_when_debugging()
        if isinstance(exc, Terminated):
            raise fail("terminated", EXIT_TERMINATED) from None
        if isinstance(exc, KeyboardInterrupt):
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        if isinstance(exc, OutputClosed):
            raise_pipe_closed()
        if isinstance(exc, AnimcliError):
            raise fail(str(exc), exc.exit_code) from None
        raise fail(*describe_failure(exc)) from None


def raise_pipe_closed() -> typer.Exit:
    """The reader of our stdout went away (``| head``): end quietly with SIGPIPE's status (see
    ``common.errors``). Standard output is pointed at /dev/null first, so that the interpreter's last flush of
    it does not fail and print a complaint of its own."""
    from animcli.common.errors import EXIT_PIPE_CLOSED

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno() if sys.stdout is not None else 1)
        os.close(devnull)
    raise typer.Exit(EXIT_PIPE_CLOSED)


def reserve_standard_streams() -> None:
    """Open /dev/null on any of file descriptors 0-2 that the caller closed (``animcli … >&-``), so that no file
    animcli opens later takes that number and receives what was meant for the terminal (Python has already set
    the matching ``sys.std*`` to None, which is how writing to a closed stdout is refused)."""
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != descriptor:
                os.dup2(opened, descriptor)
                os.close(opened)


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
