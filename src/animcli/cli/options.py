"""Options several commands share, defined once: same name, same help, same parsing everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from animcli.common.choices import Backend, Blend, Engine, Normalization, Precision, TransferMode

MODEL_HELP = "Registry name (see `animcli models list`), hf://repo_id/filename[@rev], or a checkpoint path."

ModelOption = Annotated[str | None, typer.Option("--model", "-m", help=MODEL_HELP)]
CheckpointOption = Annotated[
    Path | None, typer.Option("--checkpoint", help="Checkpoint file (official .pth.tar/.pt or .safetensors).")
]
ConfigOption = Annotated[
    str | None, typer.Option("--config", help="Config: a path to an official-format yaml/json or a shipped name.")
]
DeviceOption = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
PrecisionOption = Annotated[Precision | None, typer.Option(
    "--precision", help="What the networks compute in: auto (fp16 on CUDA, fp32 on CPU), fp32 (exact), fp16, or bf16 "
                        "(CPUs with avx512_bf16/amx_bf16, about 2x faster there; Ampere+ GPUs). --fp16/--no-fp16 "
                        "are aliases of fp16/fp32. docs/precision.md.")]
#: kept for scripts written before --precision; hidden, since --precision's help names them.
Fp16Option = Annotated[bool | None, typer.Option(
    "--fp16/--no-fp16", hidden=True, help="Aliases of --precision fp16 and --precision fp32.")]
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
ModeOption = Annotated[TransferMode | None, typer.Option(
    "--mode", help="relative: driving motion since its first frame (the reference pose) applied to the source's "
                   "pose; absolute: the driving pose as is. Default: the model's own.")]
AdaptScaleOption = Annotated[bool | None, typer.Option(
    "--adapt-scale/--no-adapt-scale", help="Scale relative motion by the source/driving keypoint spread.")]
SizeOption = Annotated[int | None, typer.Option(
    "--size", min=8, help="Model input size (default: the model's training size; fully convolutional families "
                          "accept other multiples).")]
PasteBackOption = Annotated[bool, typer.Option(
    "--paste-back", help="Blend the animated face back into the full-resolution source image.")]
BlendOption = Annotated[Blend, typer.Option(
    "--blend", help="How faces are pasted back: feather (a soft edge, colours matched along it) or poisson "
                    "(OpenCV's seamlessClone solves the colours to meet the photo's, then the soft edge).")]
SmoothOption = Annotated[bool, typer.Option(
    "--smooth", help="Smooth the driving motion over time to remove detection jitter (video files: a zero-lag "
                     "look-ahead fit; live input: a causal One-Euro filter).")]
SmoothStrengthOption = Annotated[float | None, typer.Option(
    "--smooth-strength", help="Smoothing strength in frames (default 4; implies --smooth): the look-ahead "
                              "window's half-width, or live the filter's time constant. Larger removes more "
                              "jitter but rounds off quick motion.")]
StrictOption = Annotated[bool, typer.Option(
    "--strict", help="Refuse a damaged video (decode errors, a cut file) instead of using the frames that decode "
                     "(with a warning that counts the missing ones).")]
MaxPixelsOption = Annotated[int | None, typer.Option(
    "--max-pixels", min=1, metavar="N", help="Refuse images and frames over N pixels, from their header, before "
                                             "decoding (default 100000000; also ANIMCLI_MAX_PIXELS).")]


BatchSizeOption = Annotated[str | None, typer.Option(
    "--batch-size", help="Frames per forward pass: a number, or auto (from free GPU memory on CUDA). "
                         "Default: 8 on CUDA, 1 on CPU.")]
BackendOption = Annotated[Backend, typer.Option(
    "--backend", help="What runs the networks: onnxruntime or openvino (exported graphs, cached; openvino needs the "
                      "'openvino' extra), torch, or auto (the fastest for the precision as `animcli bench` measured "
                      "it here; else onnxruntime for fp32 and openvino, else torch, for bf16 on CPU; torch on CUDA).")]
ThreadsOption = Annotated[int | None, typer.Option(
    "--threads", min=1, help="Intra-op CPU threads (default: the cores this process may use).")]
CompileOption = Annotated[bool, typer.Option(
    "--compile", help="torch backend: torch.compile the networks (CUDA graphs on GPU; static shapes per run).")]

ENGINE_HELP = ("Run on worker processes on this machine (local) or actors on a Ray cluster (ray, see --address); "
               "each worker keeps its models loaded and gets cores/workers threads.")
EngineOption = Annotated[Engine | None, typer.Option("--engine", help=ENGINE_HELP)]
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", "-w", min=1, help="Workers. Default: one per GPU when CUDA is used, else one (Ray: one per node).")]
AddressOption = Annotated[str | None, typer.Option(
    "--address", help="Ray cluster to join: auto (the local `ray start` head) or ray://host:port. "
                      "Default: start Ray on this machine.")]


def chosen_precision(precision: str | None, fp16: bool | None) -> str:
    """The one precision ``--precision`` and its aliases ``--fp16``/``--no-fp16`` ask for (``auto`` when neither)."""
    alias = None if fp16 is None else ("fp16" if fp16 else "fp32")
    if precision is not None and alias is not None and precision != alias:
        from animcli.common.errors import AnimcliError

        raise AnimcliError(f"--{'' if fp16 else 'no-'}fp16 means --precision {alias}; it contradicts "
                           f"--precision {precision}")
    return precision or alias or "auto"
