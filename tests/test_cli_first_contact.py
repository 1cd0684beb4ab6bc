"""What a newcomer meets first: --version, a top-level help naming every family, tables that fit a terminal."""

from __future__ import annotations

import re
from importlib.metadata import version

from typer.testing import CliRunner

from animcli.cli import app
from animcli.cli.models import table_lines
from animcli.models.families import FAMILIES

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"animcli {version('animcli')}\n"


def test_the_top_level_help_names_every_family() -> None:
    result = runner.invoke(app, ["--help"], terminal_width=200)
    titles = [family.title for family in FAMILIES.values()]
    assert {"FOMM", "LIA", "Monkey-Net", "LIA-X", "TPSMM"} <= set(titles)
    assert f"({', '.join(titles)})" in result.stdout


def test_a_table_wider_than_the_terminal_puts_the_last_column_below_each_row() -> None:
    rows = [("name", "status", "source"), ("a", "ok", "hf://org/repo/" + "x" * 80)]
    assert table_lines(rows, 200) == ["name  status  source", f"a     ok      {rows[1][2]}"]
    lines = "\n".join(table_lines(rows, 80)).splitlines()
    assert lines == ["name  status", "a     ok", f"    {rows[1][2]}"]
    assert table_lines(rows, None) == table_lines(rows, 200)  # a pipe: one row per model


def test_one_metavar_style_in_every_help() -> None:
    commands = [[name] for name in ("animate", "edit", "batch", "crop", "live", "predict", "train", "eval")]
    commands += [["models", "import"], ["models", "convert"], ["data", "synth"]]
    for command in commands:
        usage = runner.invoke(app, [*command, "--help"], terminal_width=200).stdout
        first = usage.splitlines()[0]
        arguments = re.findall(r"\{([^}]+)\}", first)
        assert all(name.split(".")[0].isupper() for name in arguments), first  # JOBS.jsonl: a file kind
        assert "<list[" not in usage, command
