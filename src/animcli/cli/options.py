"""Options several commands share, defined once: same name, same help, same parsing everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from animcli.choices import Normalization

MODEL_HELP = "Registry name (see `animcli models list`), hf://repo_id/filename[@rev], or a checkpoint path."

ModelOption = Annotated[str | None, typer.Option("--model", "-m", help=MODEL_HELP)]
CheckpointOption = Annotated[
    Path | None, typer.Option("--checkpoint", help="Checkpoint file (official .pth.tar/.pt or .safetensors).")
]
ConfigOption = Annotated[
    str | None, typer.Option("--config", help="Config: a path to an official-format yaml/json or a shipped name.")
]
DeviceOption = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
Fp16Option = Annotated[bool | None, typer.Option("--fp16/--no-fp16", help="float16 autocast (default on for CUDA).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
NormalizeOption = Annotated[Normalization, typer.Option(
    "--normalize", help="frame: clamp each frame on its own (streams); clip: stretch the whole result by its global "
                        "min/max like the official LIA and LIA-X code (holds it in memory; those families only).")]
EditOption = Annotated[list[str] | None, typer.Option(
    "--edit", help="DIRECTION=VALUE: add VALUE to one direction of the source's motion code, by number or by name "
                   "(e.g. yaw, pitch, mouth, eyes: README, LIA-X); repeatable. Only models with editable directions.")]
OutputSizeOption = Annotated[int | None, typer.Option(
    "--output-size", min=8, metavar="N", help="Resize the result to N×N (Lanczos; default: the model's size).")]
OverwriteOption = Annotated[bool, typer.Option(
    "--overwrite", help="Replace a non-empty output folder (PNG frames) as a whole; without it such a folder is "
                        "refused. Files are always replaced atomically.")]
