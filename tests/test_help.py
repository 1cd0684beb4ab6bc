"""`--help` of every command reads well in an 80-column terminal: whole option names, no `<bool>` on flags."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from animcli.cli import app


def commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every (sub)command of the CLI with its words on the command line (Typer's own click objects)."""
    found = [(path, group)]
    for name, command in getattr(group, "commands", {}).items():
        found += commands(command, (*path, name))
    return found


ALL_COMMANDS = commands(typer.main.get_command(app))


@pytest.mark.parametrize(("path", "command"), ALL_COMMANDS,
                         ids=[" ".join(path) or "animcli" for path, _ in ALL_COMMANDS])
def test_help_fits_80_columns_with_whole_option_names(path: tuple[str, ...], command: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "<bool>" not in result.output
    words = set(result.output.replace(",", " ").replace("/", " ").split())
    for param in command.params:
        if param.param_type_name == "option" and not param.hidden:
            assert set(param.opts + param.secondary_opts) <= words, param.name
