"""``animcli train --model fomm|lia|monkeynet|MODEL --config NAME|PATH --data ROOT --out RUN_DIR``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from animcli.cli.app import app, user_errors
from animcli.cli.options import DeviceOption, QuietOption, StrictOption, ThreadsOption
from animcli.common.choices import TrainingTask
from animcli.models.families import FAMILIES

#: the families animcli can train, from their descriptors
TRAINABLE = [name for name, family in FAMILIES.items() if family.trainer_module is not None]


class Perceptual(str, Enum):
    vgg = "vgg"
    none = "none"


class PrecisionChoice(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


@app.command()
def train(
    model: str = typer.Option(None, "--model", "-m",
                              help=f"Family to train from scratch ({', '.join(TRAINABLE)}), or a model to "
                                   "fine-tune: a registry name, hf://repo_id/filename[@rev] or a checkpoint path. "
                                   "--resume reads it, and every option below that a run remembers, from the run."),
    data: Path = typer.Option(None, "--data", help="Dataset root: ROOT/train and ROOT/test holding videos "
                                                   "(mp4/gif/mov, frame folders or png strips)."),
    out: Path = typer.Option(..., "--out", help="Run directory: config, last checkpoint, log.jsonl, samples/."),
    task: Annotated[TrainingTask, typer.Option(
        "--task", help="animation: the networks that animate; prediction: Monkey-Net's image-to-video keypoint "
                       "predictor for the trained model given as --model; avd: TPSMM's AVD network "
                       "(for --mode avd) for the trained model given as --model.")] = None,
    config: str = typer.Option(None, "--config", help="Training config: a yaml/json path or a shipped name "
                                                      "(e.g. fomm-shapes-64). Not needed with --resume, nor "
                                                      "when fine-tuning a model that has one."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped."),
    max_steps: int = typer.Option(None, "--max-steps", min=1, help="Stop after this many steps in total."),
    max_minutes: float = typer.Option(None, "--max-minutes", min=0.0, help="Stop after this many minutes."),
    batch_size: int = typer.Option(None, "--batch-size", min=1,
                                   help="Global batch size (split over processes); default: the config's."),
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    seed: int = typer.Option(None, "--seed", help="Seed of weights, data order and augmentation (default 0)."),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", min=1, help="Checkpoint every N steps."),
    sample_every: int = typer.Option(500, "--sample-every", min=1, help="Sample grid PNG every N steps."),
    log_every: int = typer.Option(10, "--log-every", min=1, help="log.jsonl line every N steps."),
    num_workers: int = typer.Option(0, "--num-workers", min=0, help="Data loading worker processes."),
    perceptual: Perceptual = typer.Option(None, "--perceptual", show_default=False,
                                          help="vgg (default): the papers' VGG19 loss; none: pixel L1 pyramid "
                                               "(weaker)."),
    vgg_weights: Path = typer.Option(None, "--vgg-weights", help="VGG19 weights (.pth/.safetensors) instead of "
                                                                 "downloading timm/vgg19.tv_in1k."),
    precision: PrecisionChoice = typer.Option(None, "--precision", show_default=False,
                                              help="auto (default: bf16/fp16 on CUDA, fp32 on CPU), fp32, bf16 or "
                                                   "fp16."),
    strict: StrictOption = False,
    quiet: QuietOption = False,
) -> None:
    """Train a model on a video dataset; multi-GPU: `torchrun --nproc-per-node N -m animcli train …`."""
    with user_errors():
        from animcli.cli.progress import TrainingProgress
        from animcli.train import TrainOptions
        from animcli.train import train as run_training

        options = TrainOptions(
            model=model, data=data, out=out, task=task, config=config, resume=resume, max_steps=max_steps,
            max_minutes=max_minutes, batch_size=batch_size, device=device, seed=seed,
            checkpoint_every=checkpoint_every, sample_every=sample_every, log_every=log_every,
            num_workers=num_workers, perceptual=perceptual and perceptual.value, vgg_weights=vgg_weights,
            precision=precision and precision.value, threads=threads,
        )
        from animcli.media.readers import strict_decoding

        # The family or registry name; a checkpoint path or a resumed run is named by its run folder.
        label = Path(model).name if model and not Path(model).is_file() else out.name
        with strict_decoding(strict), TrainingProgress(label, quiet) as progress:
            result = run_training(options, progress)
    saved = (f"checkpoint: {result.checkpoint}" if result.checkpoint is not None
             else "no step was run, so no checkpoint was written")
    typer.echo(f"{result.stop_reason} at step {result.position.step} (epoch {result.position.epoch}) after "
               f"{result.seconds:.0f} s; {saved}", err=True)
