"""What a training run is asked to do: the options of ``animcli train``, as the library takes them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class TrainOptions:
    out: Path
    # None below: not given. A fresh run takes the defaults of ``run_record.DEFAULTS``, a resumed one its record.
    #: a family (fomm, lia, monkeynet) to train from scratch, or a model to fine-tune: a registry name,
    #: ``hf://repo_id/filename[@rev]`` or a checkpoint path (its family and, without --config, its config)
    model: str | None = None
    data: Path | None = None
    #: "animation" (the networks that animate) or a family's other task, e.g. "prediction" (Monkey-Net)
    task: str | None = None
    config: str | None = None
    resume: bool = False
    max_steps: int | None = None
    max_minutes: float | None = None
    batch_size: int | None = None
    device: str = "auto"
    seed: int | None = None
    checkpoint_every: int = 500
    sample_every: int = 500
    log_every: int = 10
    num_workers: int = 0
    perceptual: str | None = None
    vgg_weights: Path | None = None
    precision: str | None = None
    #: intra-op CPU threads (None: torch's default, the cores this process may use)
    threads: int | None = None
