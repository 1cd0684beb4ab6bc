"""``animcli export``: write the graphs the inference engine runs, for other runtimes."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from animcli.cli.app import app, fail, user_errors
from animcli.cli.options import CheckpointOption, ConfigOption, ModelOption, PrecisionOption


class ExportFormat(str, Enum):
    onnx = "onnx"
    openvino = "openvino"


@app.command("export")
def export(
    output: Path = typer.Option(..., "--output", "-o", help="New (or empty) directory to write the graphs to."),
    model: ModelOption = None,
    checkpoint: CheckpointOption = None,
    config: ConfigOption = None,
    export_format: ExportFormat = typer.Option(
        ExportFormat.onnx, "--format", help="onnx (float32 graphs), or openvino (IR made from them, with the "
                                            "precision OpenVINO is to compute in; needs the 'openvino' extra)."),
    precision: PrecisionOption = None,
    size: int = typer.Option(None, "--size", min=8, help="Input size (default: the model's)."),
) -> None:
    """Export the source encoder, driving encoder and renderer (ONNX opset 17, or OpenVINO IR made from it) with a
    JSON manifest. The graphs hold float32 weights; --precision (auto: fp32) is what a runtime is to compute in: an
    OpenVINO IR records it as the runtime option INFERENCE_PRECISION_HINT (f32 or bf16), which whoever compiles it
    must pass (OpenVINO computes in bf16 on CPUs with bf16 units unless told f32)."""
    if (model is None) == (checkpoint is None):
        raise fail("give one of --model or --checkpoint")
    with user_errors():
        from animcli.common.files import sha256_of_file
        from animcli.inference.export import check_export, export_to_directory, graph_file
        from animcli.weights.loading import build_model, read_checkpoint

        chosen = "fp32" if precision in (None, "auto") else precision
        check_export(export_format.value, chosen)  # before loading the model: a refusal should cost nothing
        resolved = read_checkpoint(checkpoint, config, model=model)
        animation_model = build_model(resolved, device="cpu")
        manifest = export_to_directory(animation_model, size or animation_model.size, output,
                                       checkpoint_sha256=sha256_of_file(resolved.path),
                                       graph_format=export_format.value, precision=chosen)
    graphs = ", ".join(graph_file(name, manifest["runtime"]) for name in manifest["graphs"])
    typer.echo(f"wrote {graphs} and manifest.json ({manifest['family']}, {manifest['size']} px, "
               f"opset {manifest['opset']}, {manifest['precision']}) to {output}", err=True)
