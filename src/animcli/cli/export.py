"""``animcli export``: write the graphs the inference engine runs, for other runtimes."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from animcli.cli.app import app, fail, user_errors
from animcli.cli.options import CheckpointOption, ConfigOption, ModelOption


class ExportFormat(str, Enum):
    onnx = "onnx"


@app.command("export")
def export(
    output: Path = typer.Option(..., "--output", "-o", help="New (or empty) directory to write the graphs to."),
    model: ModelOption = None,
    checkpoint: CheckpointOption = None,
    config: ConfigOption = None,
    export_format: ExportFormat = typer.Option(ExportFormat.onnx, "--format", help="Graph format."),
    size: int = typer.Option(None, "--size", min=8, help="Input size (default: the model's)."),
) -> None:
    """Export the source encoder, driving encoder and renderer (ONNX opset 17) with a JSON manifest."""
    if (model is None) == (checkpoint is None):
        raise fail("give one of --model or --checkpoint")
    with user_errors():
        from animcli.common.files import sha256_of_file
        from animcli.inference.export import export_to_directory
        from animcli.weights.loading import build_model, read_checkpoint

        resolved = read_checkpoint(checkpoint, config, model=model)
        animation_model = build_model(resolved, device="cpu")
        manifest = export_to_directory(animation_model, size or animation_model.size, output,
                                       checkpoint_sha256=sha256_of_file(resolved.path))
    graphs = ", ".join(f"{name}.onnx" for name in manifest["graphs"])
    typer.echo(f"wrote {graphs} and manifest.json ({manifest['family']}, {manifest['size']} px, "
               f"opset {manifest['opset']}) to {output}", err=True)
