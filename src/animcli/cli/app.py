"""The Typer application object and the error boundary shared by every command module.

Command modules must not import torch (or anything that does) at module level: ``animcli --help`` has to
stay fast, so heavy imports happen inside the command functions.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import typer

# Click's plain help layout, not rich's boxed table: in an 80-column terminal the table squeezes six columns
# and cuts option names ("--no-adapt-sca…") and shows "<bool>" on flags; the plain layout wraps help text and
# keeps every option name whole. Every Typer of the CLI uses it.
HELP_LAYOUT: dict[str, Any] = {"rich_markup_mode": None}

app = typer.Typer(
    name="animcli",
    help="Animate a still image with the motion of a driving video (FOMM, LIA, Monkey-Net).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    **HELP_LAYOUT,
)


@app.callback()
def root() -> None:
    """Animate a still image with the motion of a driving video (FOMM, LIA, Monkey-Net)."""


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
    """Turn expected failures into one line + exit 2; Ctrl-C into exit 130."""
    from animcli.errors import AnimcliError

    try:
        with reported_warnings():
            yield
    except AnimcliError as exc:
        raise fail(str(exc), exc.exit_code) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`); nothing left to report to.
        sys.stderr.close()
        raise typer.Exit(1) from None
