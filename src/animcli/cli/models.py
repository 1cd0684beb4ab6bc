"""``animcli models …``: the named checkpoints of the registry (list, pull, import, convert, push)."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from animcli.cli.app import HELP_LAYOUT, app, user_errors
from animcli.cli.options import ConfigOption

models_app = typer.Typer(
    help="Named checkpoints: list them, download them from the Hugging Face Hub, register hand-downloaded "
    "files, convert pickles to safetensors, share conversions on the Hub.",
    no_args_is_help=True,
    **HELP_LAYOUT,
)
app.add_typer(models_app, name="models")

LIST_COLUMNS = ("name", "family", "input", "download", "license", "status", "source")


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("KB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def table_lines(rows: list[tuple[str, ...]], columns: int | None) -> list[str]:
    """Aligned rows; where they would be wider than ``columns``, each row's last cell (the long source address)
    goes on a line of its own below it."""
    def aligned(rows: list[tuple[str, ...]]) -> list[str]:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                for row in rows]

    lines = aligned(rows)
    if columns is None or max(map(len, lines)) <= columns:
        return lines
    lines = aligned([row[:-1] for row in rows])
    return [lines[0], *(f"{line}\n    {row[-1]}" for line, row in zip(lines[1:], rows[1:], strict=True))]


@models_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array of objects, for scripts.")] = False,
) -> None:
    """Every known model: family, input size, download size, licence, local copy, and where it comes from.

    Sizes the registry does not record are asked from the Hub when it can be reached."""
    with user_errors():
        from animcli.weights.fetch import list_models

        listings = list_models()
        if as_json:
            typer.echo(json.dumps([asdict(listing) for listing in listings], indent=2))
            return
        rows = [
            (item.name, item.family or "-", f"{item.input_size}px" if item.input_size else "-",
             human_size(item.file_size), item.license or "-", item.status, item.source or "-")
            for item in listings
        ]
        # A terminal gets lines that fit it; a pipe (scripts) one row per model, however long.
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        for line in table_lines([LIST_COLUMNS, *rows], width):
            typer.echo(line)
        if any(item.file_size is None for item in listings):
            # stderr: the table on stdout stays the same whether the Hub answered or not.
            typer.echo("download '-': size unknown (not recorded, and the Hub was not reachable or the file is "
                       "not on it)", err=True)


@models_app.command("pull")
def pull_command(
    name: Annotated[str, typer.Argument(help="Registry name, or hf://ORG/REPO/FILENAME[@REVISION].")],
) -> None:
    """Download a model into the Hugging Face cache (HF_HOME) and print its local path."""
    with user_errors():
        from animcli.weights.fetch import resolve_model_spec

        typer.echo(str(resolve_model_spec(name).checkpoint))


@models_app.command("import")
def import_command(
    name: Annotated[str, typer.Argument(help="Registry name (e.g. lia-vox) or a new name of your choice.")],
    path: Annotated[Path, typer.Argument(help="The checkpoint file you downloaded.")],
    config: ConfigOption = None,
) -> None:
    """Register a hand-downloaded checkpoint for `--model NAME` (it is loaded first, as a check)."""
    with user_errors():
        from animcli.weights.publishing import import_model

        registry_file = import_model(name, path, config)
        typer.echo(f"registered {name} -> {path.expanduser().resolve()} in {registry_file}")


@models_app.command("convert")
def convert_command(
    source: Annotated[Path, typer.Argument(help="Official checkpoint (.pth.tar, .pt) or .safetensors.")],
    output: Annotated[Path, typer.Argument(help="Output file, ending in .safetensors.")],
    config: ConfigOption = None,
    trust_pickle: Annotated[
        bool,
        typer.Option(
            "--trust-pickle",
            help="Allow a pickle that needs arbitrary objects. This RUNS code from the file: trust it first.",
        ),
    ] = False,
) -> None:
    """Convert a checkpoint to safetensors, with its family and config in the file's header."""
    with user_errors():
        from animcli.weights.publishing import convert_checkpoint

        header = convert_checkpoint(source, output, config, trust_pickle=trust_pickle)
        config_note = "config included" if header.config else "no config: pass --config when loading"
        typer.echo(f"wrote {output} ({header.family}, {config_note})")


@models_app.command("push")
def push_command(
    name: Annotated[str, typer.Argument(help="Registry name, local checkpoint path or hf:// address.")],
    repo_id: Annotated[str, typer.Option("--repo-id", help="Your Hub repository, USER/REPO.")],
    config: ConfigOption = None,
    private: Annotated[bool, typer.Option("--private", help="Create the repository as private.")] = False,
) -> None:
    """Upload a model as safetensors, with its config and a model card, to your own Hub repository."""
    with user_errors():
        from animcli.weights.publishing import push_model

        typer.echo(push_model(name, repo_id, config=config, private=private))
