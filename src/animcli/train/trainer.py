"""The per-family training interface the engine drives (each family's trainer is named in ``models.families``).

A family trainer builds its networks from the config, owns their optimisers and schedulers, performs one
optimisation step on a batch, and writes/reads checkpoints in the family's OFFICIAL layout (so official tools
and ``animcli animate`` load them). Everything generic — data, loop, logging, checkpoint files, resume, DDP —
lives in the engine, which never branches on a family name.
"""

from __future__ import annotations

import copy
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from animcli.common.errors import ModelError
from animcli.data import Augmentation, PairSampling, TrainingPairs
from animcli.models.families import get_family
from animcli.models.keypoints import KeypointModel
from animcli.models.state_dicts import load_strict
from animcli.train.losses import PerceptualLoss
from animcli.train.precision import Precision
from animcli.train.vgg import load_vgg19


@dataclass(frozen=True)
class DataSettings:
    """What a family's config says about its training data."""

    frame_shape: tuple[int, int]
    augmentation: Augmentation
    pair_sampling: PairSampling
    batch_size: int
    num_epochs: int
    id_sampling: bool = False
    num_repeats: int = 1


@dataclass
class TrainContext:
    """What the engine hands to a family trainer."""

    device: torch.device
    precision: Precision
    #: wraps a loss-computing module for data parallelism (DDP) or returns it unchanged.
    parallel: Callable[[nn.Module], nn.Module]
    #: converts BatchNorm layers to SyncBatchNorm when several CUDA processes train together.
    sync_batch_norm: Callable[[nn.Module], nn.Module]
    perceptual: str = "vgg"  # "vgg" or "none"
    vgg_weights: Path | None = None
    #: the monotonic time at which --max-minutes ends (None: no limit); a task's data preparation counts in it
    time_limit_at: float | None = None
    #: reports work before the first step as (what, done, total), e.g. a predictor's keypoint extraction
    preparing: Callable[[str, int, int], None] = lambda what, done, total: None

    def perceptual_loss(self, scales: list[float], weights: list[float]) -> PerceptualLoss:
        vgg = load_vgg19(self.vgg_weights) if self.perceptual == "vgg" else None
        return PerceptualLoss(scales, weights, vgg)


@dataclass
class Preview:
    """A batch's images for the sample grid, (B, 3, H, W) in [0, 1], keypoints (B, K, 2) in [-1, 1] or None."""

    PREVIEW_SAMPLES: ClassVar[int] = 4

    source: Tensor
    driving: Tensor
    prediction: Tensor
    kp_source: Tensor | None = None
    kp_driving: Tensor | None = None

    @classmethod
    def of(cls, source: Tensor, driving: Tensor, prediction: Tensor, kp_source: Tensor | None = None,
           kp_driving: Tensor | None = None) -> Preview:
        """The first few samples, detached (still on the device: copying them every step would sync CUDA)."""
        def keep(tensor: Tensor | None) -> Tensor | None:
            return None if tensor is None else tensor[: cls.PREVIEW_SAMPLES].detach()

        return cls(keep(source), keep(driving), keep(prediction), keep(kp_source), keep(kp_driving))


def adam_step_order(loss: Tensor, precision: Precision, optimizers: list[torch.optim.Optimizer]) -> float:
    """Backward ``loss`` (scaled when fp16), step each optimiser in turn, then clear their gradients.

    Returns the gradients' total norm (unscaled, before the steps), for the training-health log.
    """
    precision.backward(loss)
    gradients = []
    for optimizer in optimizers:
        precision.scaler.unscale_(optimizer)
        gradients += [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        precision.step(optimizer)
        optimizer.zero_grad(set_to_none=True)
    return float(torch.nn.utils.get_total_norm(gradients)) if gradients else 0.0


class FamilyTrainer(ABC):
    family: ClassVar[str]
    #: what it trains (``train --task``): the animation networks, or e.g. Monkey-Net's motion predictor
    task: ClassVar[str] = "animation"
    #: the family's trainers for its other tasks, by task name
    other_tasks: ClassVar[dict[str, type[FamilyTrainer]]] = {}
    #: whether a run needs a trained model as ``--model`` (a family name alone cannot start it)
    starts_from_trained_model: ClassVar[bool] = False
    config_suffix: ClassVar[str] = ".yaml"
    checkpoint_name: ClassVar[str] = "last.pth.tar"

    def __init__(self, config: dict[str, Any], context: TrainContext) -> None:
        self.config = config
        self.context = context
        #: official checkpoint key → network, and → optimiser (filled by the family).
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        #: the last training step's own outputs for the sample grid: showing them costs no extra forward
        #: pass, which would also move BatchNorm running statistics and so change the training run.
        self.latest_preview: Preview | None = None
        #: the last step's health figures (mask means, D's beliefs, gradient norms, output spread) for the
        #: log and the progress line; see ``train.health``.
        self.latest_health: dict[str, float] = {}
        #: optimisation steps done so far (kept by the loop, resume included), for step-dependent recipes.
        self.step = 0

    # -- what the engine needs to know ------------------------------------------------------------
    #: how the two frames of a training pair are drawn (FOMM/Monkey-Net: sorted, with replacement).
    pair_sampling: ClassVar[PairSampling] = PairSampling(distinct=False)

    @classmethod
    def for_task(cls, task: str) -> type[FamilyTrainer]:
        """The family's trainer for ``task``; a one-line error for a task the family does not have."""
        trainers = {cls.task: cls, **cls.other_tasks}
        if task not in trainers:
            raise ModelError(f"{cls.family} models cannot be trained for --task {task} "
                             f"(their tasks: {', '.join(trainers)})")
        return trainers[task]

    @classmethod
    def training_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The config a new run writes and trains with (a task may complete it with defaults)."""
        return config

    @staticmethod
    @abstractmethod
    def frame_shape(config: dict[str, Any]) -> tuple[int, int]:
        """(H, W) of the training frames."""

    @classmethod
    def data_settings(cls, config: dict[str, Any]) -> DataSettings:
        """Frame size, augmentation, pair sampling, batch size and epochs from the config."""
        dataset, train = config.get("dataset_params") or {}, config["train_params"]
        return DataSettings(
            frame_shape=cls.frame_shape(config),
            augmentation=Augmentation.from_params(dataset.get("augmentation_params")),
            pair_sampling=cls.pair_sampling,
            batch_size=int(train["batch_size"]),
            num_epochs=int(train["num_epochs"]),
            id_sampling=bool(dataset.get("id_sampling", False)),
            num_repeats=int(train.get("num_repeats", 1)),
        )

    @staticmethod
    def with_batch_size(config: dict[str, Any], batch_size: int) -> dict[str, Any]:
        """A copy of the config whose training batch size is ``batch_size``."""
        updated = copy.deepcopy(config)
        updated["train_params"]["batch_size"] = batch_size
        return updated

    def training_data(self, root: Path, settings: DataSettings) -> Dataset:
        """The training items (default: augmented (source, driving) frame pairs of ROOT/train's videos)."""
        return TrainingPairs(root, settings.frame_shape, settings.augmentation, settings.pair_sampling,
                             settings.id_sampling, settings.num_repeats)

    def batch_size_for(self, num_items: int, batch_size: int) -> int:
        """The global batch size to train ``num_items`` items with (default: the configured one)."""
        return batch_size

    def prepare(self, dataset: Dataset) -> None:  # noqa: B027 (a hook: most recipes need nothing)
        """Called once before the first step of a fresh run (not on resume or fine-tuning), when a recipe
        initialises its networks from the data."""

    @abstractmethod
    def train_step(self, **batch: Tensor) -> dict[str, float]:
        """One optimisation step on a batch (the fields of the training items, e.g. ``source`` and
        ``driving``); returns the loss terms."""

    # -- shared mechanics -------------------------------------------------------------------------
    def end_epoch(self) -> None:
        with warnings.catch_warnings():
            # An optimiser that never stepped (FOMM's discriminator without GAN loss) makes torch warn about
            # the order of scheduler and optimiser steps; its schedule is kept in step with the others anyway.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            for scheduler in self.schedulers.values():
                scheduler.step()

    def learning_rates(self) -> dict[str, float]:
        return {key: optimizer.param_groups[0]["lr"] for key, optimizer in self.optimizers.items()}

    def official_entries(self, epoch: int, step: int) -> dict[str, Any]:
        """Extra top-level entries of the official checkpoint (FOMM: the epoch)."""
        return {"epoch": epoch}

    def checkpoint(self, epoch: int, step: int) -> dict[str, Any]:
        """Networks and optimisers under their official keys.

        ``networks`` are the bare modules (DDP wraps only the loss modules), so no ``module.`` prefix appears.
        """
        entries: dict[str, Any] = {key: net.state_dict() for key, net in self.networks.items()}
        entries.update({key: optimizer.state_dict() for key, optimizer in self.optimizers.items()})
        entries.update(self.official_entries(epoch, step))
        return entries

    def scheduler_states(self) -> dict[str, Any]:
        return {key: scheduler.state_dict() for key, scheduler in self.schedulers.items()}

    def initialize(self, checkpoint: dict[str, Any]) -> None:
        """Start from a trained checkpoint's networks (fine-tuning); optimisers and schedules start fresh.
        A network the checkpoint lacks (published files often omit the discriminator) starts from scratch."""
        for key, net in self.networks.items():
            if key in checkpoint:
                load_strict(net, checkpoint[key], key)
            else:
                warnings.warn(f"the starting checkpoint has no {key!r}: it is trained from scratch", stacklevel=2)

    def load(self, checkpoint: dict[str, Any], scheduler_states: dict[str, Any]) -> None:
        for key, net in self.networks.items():
            if key not in checkpoint:
                raise ModelError(f"cannot resume: the checkpoint has no {key!r} entry")
            net.load_state_dict(checkpoint[key])
        for key, optimizer in self.optimizers.items():
            optimizer.load_state_dict(checkpoint[key])
        for key, scheduler in self.schedulers.items():
            scheduler.load_state_dict(scheduler_states[key])

    def train_mode(self) -> None:
        for net in self.networks.values():
            net.train()


class KeypointFamilyTrainer(FamilyTrainer):
    """FOMM's and Monkey-Net's networks under their checkpoint keys (in the official checkpoints' order), on
    the device, BatchNorm synced when several GPUs train together (the official code synced the detector's and
    generator's BatchNorm)."""

    model_class: ClassVar[type[KeypointModel]]

    def __init__(self, config: dict[str, Any], context: TrainContext) -> None:
        super().__init__(config, context)
        built = self.model_class.build_networks(config)
        self.networks = {
            "generator": context.sync_batch_norm(built["generator"].to(context.device)),
            "kp_detector": context.sync_batch_norm(built["kp_detector"].to(context.device)),
            "discriminator": self.model_class.build_discriminator(config).to(context.device),
        }

    @property
    def generator(self) -> nn.Module:
        return self.networks["generator"]

    @property
    def kp_detector(self) -> nn.Module:
        return self.networks["kp_detector"]

    @property
    def discriminator(self) -> nn.Module:
        return self.networks["discriminator"]


def keypoint_family_optimization(
    networks: dict[str, nn.Module], learning_rates: dict[str, float], milestones: list[int]
) -> tuple[dict[str, torch.optim.Optimizer], dict[str, torch.optim.lr_scheduler.MultiStepLR]]:
    """FOMM's and Monkey-Net's three Adams (betas 0.5, 0.999) under their official checkpoint keys, each with
    the official per-epoch decay (×0.1 at every milestone epoch)."""
    optimizers = {f"optimizer_{name}": torch.optim.Adam(networks[name].parameters(), lr=lr, betas=(0.5, 0.999))
                  for name, lr in learning_rates.items()}
    schedulers = {key: torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=0.1)
                  for key, optimizer in optimizers.items()}
    return optimizers, schedulers


def trainer_class(family: str) -> type[FamilyTrainer]:
    return get_family(family).trainer_class()
