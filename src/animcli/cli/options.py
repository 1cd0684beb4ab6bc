"""Options several commands share, defined once: same name, same help, same parsing everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
