"""The training loop shared by every family: run directory, data, steps, logging, checkpoints, exact resume.

A run directory holds ``config.yaml`` (``.json`` for LIA), ``last.pth.tar`` (``last.pt`` for LIA) in the
family's official layout, ``log.jsonl`` and ``samples/step-NNNNNNN.png``. The checkpoint additionally carries
an ``animcli_train`` entry (official tools ignore it) with everything an exact resume needs: step and epoch
position, scheduler and loss-scaler states, and every process's RNG states. Together with the seeded data
stream (see ``data.dataset``) a resumed run reproduces the uninterrupted run bit for bit on the same machine.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import yaml
from torch.utils.data import DataLoader, Dataset

from animcli.common.devices import resolve_device
from animcli.common.errors import EXIT_FAILURE, AnimcliError
from animcli.common.files import (
    FolderLock,
    atomic_path,
    check_output_folder,
    private_temporaries,
    remove_stale_temporaries,
)
from animcli.data import EpochSampler
from animcli.models.configs import resolve_config
from animcli.models.families import FAMILIES
from animcli.train.distributed import Distributed
from animcli.train.health import HealthWatch
from animcli.train.options import TrainOptions
from animcli.train.precision import Precision, resolve_precision
from animcli.train.run_record import recorded_family, settled, write_record
from animcli.train.samples import write_sample_grid
from animcli.train.trainer import FamilyTrainer, TrainContext, trainer_class
from animcli.weights.checkpoint_io import load_checkpoint_file
from animcli.weights.loading import ResolvedCheckpoint, read_checkpoint

RESUME_KEY = "animcli_train"
LOG_NAME = "log.jsonl"


class TrainError(AnimcliError):
    """A training run that cannot start or resume."""


class TrainingReporter(Protocol):
    """Receives the run's progress; the CLI draws it (the library itself never prints)."""

    def preparing(self, what: str, done: int, total: int) -> None:
        """Called during work before the first step (``done`` of ``total`` items), e.g. keypoint extraction."""

    def start(self, step: int, epoch: int, total: int) -> None:
        """Called once before the first step; ``step`` > 0 when the run resumes."""

    def update(self, step: int, epoch: int, losses: dict[str, float], health: dict[str, float]) -> None:
        """Called after every step with that step's losses."""


@dataclass
class Position:
    """Where the run is: global step, epoch, and batch within the epoch."""

    step: int = 0
    epoch: int = 0
    batch: int = 0


@dataclass
class TrainResult:
    checkpoint: Path | None  # None: the run stopped before its first step and saved nothing
    position: Position
    stop_reason: str
    seconds: float
    last_losses: dict[str, float] = field(default_factory=dict)


class RunDir:
    def __init__(self, path: Path, trainer_cls: type[FamilyTrainer]) -> None:
        self.path = path
        self.config = path / f"config{trainer_cls.config_suffix}"
        self.checkpoint = path / trainer_cls.checkpoint_name
        self.log = path / LOG_NAME
        self.samples = path / "samples"

    def remove_stale_temporaries(self) -> None:
        for path in (self.config, self.checkpoint):
            remove_stale_temporaries(path)

    def write_config(self, config: dict[str, Any]) -> None:
        text = (json.dumps(config, indent=1) if self.config.suffix == ".json"
                else yaml.safe_dump(config, sort_keys=False))
        with atomic_path(self.config) as temporary:
            temporary.write_text(text)


# -------------------------------------------------------------------------------------------- RNG state


def rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# ------------------------------------------------------------------------------------------ stop signals


class StopRequest:
    """Ctrl-C / SIGTERM ask the loop to finish the current step, checkpoint and exit; a second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


# ------------------------------------------------------------------------------------------------- setup


def starting_point(options: TrainOptions) -> tuple[type[FamilyTrainer], ResolvedCheckpoint | None]:
    """The trainer for the family and task, and the checkpoint to start from when ``--model`` names one
    (fine-tuning, or the trained model a task builds on)."""
    family = recorded_family(options.out) if options.resume else None
    if family is not None:  # the run folder says what it trains; its model need not be read again
        return trainer_class(family).for_task(options.task), None
    if options.model in FAMILIES:
        trainer_cls = trainer_class(options.model).for_task(options.task)
        if trainer_cls.starts_from_trained_model:
            raise TrainError(f"--task {options.task} starts from a trained model: pass its checkpoint, "
                             "registry name or hf:// address as --model")
        return trainer_cls, None
    start = read_checkpoint(config=options.config, model=options.model)
    return trainer_class(start.family).for_task(options.task), None if options.resume else start


def prepare_config(options: TrainOptions, run: RunDir, trainer_cls: type[FamilyTrainer],
                   start: ResolvedCheckpoint | None = None) -> dict[str, Any]:
    """Fresh run: the given config, else the starting checkpoint's (+ batch-size override). Resume: the run
    directory's own config."""
    if options.resume:
        if not run.checkpoint.is_file():
            raise TrainError(_nothing_to_resume(run))
        return resolve_config(run.config)
    if run.checkpoint.exists():
        raise TrainError(f"{run.path} already holds a training run; pass --resume to continue it, "
                         "or choose another --out")
    if options.config is None and start is None:
        raise TrainError("--config is required for a new training run")
    config = start.config if start is not None and options.config is None else resolve_config(options.config)
    config = trainer_cls.training_config(config)
    if options.batch_size is not None:
        config = trainer_cls.with_batch_size(config, options.batch_size)
    return config


def _nothing_to_resume(run: RunDir) -> str:
    """Why --resume found no checkpoint: most often the run belongs to another family than --model names."""
    for family in FAMILIES.values():
        if family.trainer_module is None:
            continue
        if RunDir(run.path, family.trainer_class()).checkpoint.is_file():
            return f"{run.path} holds a {family.name} training run; resume it with --model {family.name}"
    return f"nothing to resume: {run.checkpoint} does not exist"


def make_loader(dataset: Dataset, sampler: EpochSampler, options: TrainOptions,
                device: torch.device) -> DataLoader:
    return DataLoader(
        dataset, batch_size=sampler.batch_size, sampler=sampler, num_workers=options.num_workers,
        drop_last=True, pin_memory=device.type == "cuda",
        # The loader's own seed comes from this generator, not the global RNG, whose draws must depend only on
        # the training steps (otherwise creating an iterator at a resume point would shift them).
        generator=torch.Generator().manual_seed(options.seed),
    )


def per_process_batch(batch_size: int, world: Distributed) -> int:
    if batch_size % world.world_size:
        raise TrainError(f"batch size {batch_size} is not divisible by the {world.world_size} processes")
    return batch_size // world.world_size


class LoaderWorkerDied(TrainError):
    """A data-loading worker process was killed (out of memory, a signal): the machine's doing, not the data's."""

    exit_code = EXIT_FAILURE


def loader_worker_error(error: Exception) -> Exception:
    """A DataLoader worker's failure as our own one-line error: torch re-raises it in the main process with its
    message replaced by "Caught X in DataLoader worker process 0" and the worker's whole traceback; the last line
    of that traceback holds the original message. Other exceptions are returned unchanged."""
    text = str(error).strip()
    if "DataLoader worker" not in text:
        return error
    if text.startswith("Caught "):
        last = text.splitlines()[-1]
        message = last.partition(": ")[2] or last
        return type(error)(message) if isinstance(error, AnimcliError) else TrainError(
            f"reading the training data failed: {message}")
    return LoaderWorkerDied(f"a data-loading worker process died ({text.splitlines()[0]}); try fewer "
                            "--num-workers")


# --------------------------------------------------------------------------------------------- the loop


class TrainingRun:
    """One training run: owns the family trainer, data loader, run directory and position."""

    def __init__(self, options: TrainOptions, reporter: TrainingReporter | None = None) -> None:
        self.started = time.monotonic()  # --max-minutes counts the data preparation too
        self.options = options = settled(options)
        if options.threads is not None:
            torch.set_num_threads(options.threads)
        self.world = Distributed.from_env()
        device = self.world.device(resolve_device(options.device))
        self.world.init(device)
        self.device = device
        # The run folder must not become part of its own data set (its samples and checkpoints would be trained on).
        check_output_folder(options.out, {"--data": options.data})
        trainer_cls, start = starting_point(options)
        self.run = RunDir(options.out, trainer_cls)
        # One run at a time per folder: an existing run folder is locked before it is read, a new one once made.
        self.lock = FolderLock(options.out, "animcli train")
        if self.world.is_main and options.out.is_dir():
            self.lock.acquire()
        config = prepare_config(options, self.run, trainer_cls, start)
        torch.manual_seed(options.seed + self.world.rank)
        self.precision = Precision(resolve_precision(options.precision, device), device)
        context = TrainContext(device=device, precision=self.precision, parallel=self.world.parallel,
                               sync_batch_norm=self.world.sync_batch_norm, perceptual=options.perceptual,
                               vgg_weights=options.vgg_weights, time_limit_at=self.time_limit_at())
        if reporter is not None and self.world.is_main:
            context.preparing = reporter.preparing
        self.family = trainer_cls(config, context)
        self.position = Position()
        # Networks first: a task's training data may come from them (the predictor's keypoints).
        if options.resume:
            self.restore(load_checkpoint_file(self.run.checkpoint, map_location=device))
        elif start is not None:
            self.family.initialize(start.state)
        settings = trainer_cls.data_settings(config)
        self.num_epochs = settings.num_epochs
        dataset = self.family.training_data(options.data, settings)
        if not options.resume and start is None:
            self.family.prepare(dataset)
        batch_size = self.family.batch_size_for(len(dataset), settings.batch_size)
        self.sampler = EpochSampler(len(dataset), per_process_batch(batch_size, self.world), options.seed,
                                    self.world.rank, self.world.world_size)
        self.loader = make_loader(dataset, self.sampler, options, device)
        # Only now that config, networks and data have all been checked does the run directory get written.
        if self.world.is_main:
            self.run.path.mkdir(parents=True, exist_ok=True)
            if not self.lock.held:
                self.lock.acquire()
                prepare_config(options, self.run, trainer_cls, start)  # a run that started meanwhile is refused
            self.run.remove_stale_temporaries()  # a checkpoint save killed by SIGKILL left its temporary
            if not options.resume:
                self.run.write_config(config)
                write_record(self.run.path, options, trainer_cls.family)
        self.saved = False

    # -- checkpoints ------------------------------------------------------------------------------
    def save(self) -> None:
        """Every process contributes its RNG state; the main process writes the file atomically."""
        rng_states = self.world.gather({k: v.cpu() for k, v in rng_state(self.device).items()})
        if not self.world.is_main:
            return
        checkpoint = self.family.checkpoint(self.position.epoch, self.position.step)
        checkpoint[RESUME_KEY] = {
            "step": self.position.step, "epoch": self.position.epoch, "batch": self.position.batch,
            "seed": self.options.seed, "world_size": self.world.world_size,
            "schedulers": self.family.scheduler_states(), "scaler": self.precision.state_dict(),
            "rng": rng_states,
        }
        with atomic_path(self.run.checkpoint, updates_input=True) as temporary:
            torch.save(checkpoint, temporary)
        self.saved = True

    def restore(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(RESUME_KEY)
        if not isinstance(state, dict):
            raise TrainError(f"{self.run.checkpoint} was not written by `animcli train`: it cannot be resumed")
        if state["world_size"] != self.world.world_size or state["seed"] != self.options.seed:
            raise TrainError(f"the run was started with {state['world_size']} process(es) and --seed "
                             f"{state['seed']}; resume it with the same settings to continue it exactly")
        self.family.load(checkpoint, state["schedulers"])
        self.precision.load_state_dict(state["scaler"])
        self.position = Position(state["step"], state["epoch"], state["batch"])
        set_rng_state(state["rng"][self.world.rank], self.device)

    # -- the loop ---------------------------------------------------------------------------------
    def time_limit_at(self) -> float | None:
        minutes = self.options.max_minutes
        return None if minutes is None else self.started + 60 * minutes

    def stop_reason(self, started: float, stop: StopRequest) -> str | None:
        reasons = []
        if self.options.max_steps is not None and self.position.step >= self.options.max_steps:
            reasons.append("max steps reached")
        if self.options.max_minutes is not None and time.monotonic() - started >= 60 * self.options.max_minutes:
            reasons.append("time limit reached")
        if stop.requested:
            reasons.append("interrupted")
        if self.position.epoch >= self.num_epochs:
            reasons.append("all epochs done")
        agreed = self.world.any(bool(reasons), self.device)
        return (reasons[0] if reasons else "stopped by another process") if agreed else None

    def total_steps(self) -> int:
        total = self.num_epochs * self.sampler.batches_per_epoch
        return min(total, self.options.max_steps) if self.options.max_steps is not None else total

    def fit(self, reporter: TrainingReporter | None = None) -> TrainResult:
        started = self.started
        log = TrainingLog(self.run.log, self.options.log_every, enabled=self.world.is_main)
        reporter = reporter if self.world.is_main else None
        if reporter is not None:
            reporter.start(self.position.step, self.position.epoch, self.total_steps())
        reason = None
        watch = HealthWatch()
        with StopRequest().installed() as stop:
            self.family.train_mode()
            reason = self.stop_reason(started, stop)
            while reason is None:
                self.sampler.set_position(self.position.epoch, self.position.batch)
                for batch in self.batches():
                    self.family.step = self.position.step
                    losses = self.family.train_step(**batch)
                    health = self.family.latest_health
                    self.advance()
                    watch.check(self.position.step, health)
                    log.record(self.position, losses, health, self.family.learning_rates(),
                               time.monotonic() - started)
                    if reporter is not None:
                        reporter.update(self.position.step, self.position.epoch, losses, health)
                    reason = self.stop_reason(started, stop)
                    self.periodic_outputs(final=reason is not None)
                    if reason is not None or self.position.batch == 0:
                        break
        # The last step is always in the log, however few steps ran since the last full --log-every group.
        log.flush(self.position, self.family.learning_rates(), time.monotonic() - started)
        self.world.barrier()
        return TrainResult(self.run.checkpoint if self.saved else None, self.position, reason,
                           time.monotonic() - started, log.last)

    def batches(self) -> Iterator[dict[str, torch.Tensor]]:
        try:
            for batch in self.loader:
                yield {name: value.to(self.device, non_blocking=True) for name, value in batch.items()}
        except Exception as exc:  # noqa: BLE001 - only a loader worker's failure is reworded, the rest re-raised
            raise loader_worker_error(exc) from None

    def advance(self) -> None:
        self.position.step += 1
        self.position.batch += 1
        if self.position.batch == self.sampler.batches_per_epoch:
            self.family.end_epoch()
            self.position.epoch += 1
            self.position.batch = 0

    def periodic_outputs(self, final: bool) -> None:
        step = self.position.step
        if final or step % self.options.checkpoint_every == 0:
            self.save()
        preview = self.family.latest_preview
        if self.world.is_main and preview is not None and (final or step % self.options.sample_every == 0):
            self.run.samples.mkdir(exist_ok=True)
            write_sample_grid(self.run.samples / f"step-{step:07d}.png", preview)


class TrainingLog:
    """JSON lines of losses averaged over ``every`` steps, with epoch, learning rates and wall time."""

    def __init__(self, path: Path, every: int, enabled: bool) -> None:
        self.path, self.every, self.enabled = path, max(1, every), enabled
        self.sums: dict[str, float] = {}
        self.health_sums: dict[str, float] = {}
        self.count = 0
        self.last: dict[str, float] = {}

    def record(self, position: Position, losses: dict[str, float], health: dict[str, float],
               lrs: dict[str, float], seconds: float) -> None:
        self.last = losses
        for sums, values in ((self.sums, losses), (self.health_sums, health)):
            for name, value in values.items():
                sums[name] = sums.get(name, 0.0) + value
        self.count += 1
        if position.step % self.every == 0:
            self.flush(position, lrs, seconds)

    def flush(self, position: Position, lrs: dict[str, float], seconds: float) -> None:
        """Write the mean of the steps recorded since the last line (if any)."""
        if not self.enabled or self.count == 0:
            return
        means = {name: total / self.count for name, total in self.sums.items()}
        entry = {"step": position.step, "epoch": position.epoch, "seconds": round(seconds, 2),
                 "losses": means, "total": sum(means.values()), "lr": lrs}
        if self.health_sums:
            entry["health"] = {name: total / self.count for name, total in self.health_sums.items()}
        with self.path.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
        self.sums, self.health_sums, self.count = {}, {}, 0


def train(options: TrainOptions, reporter: TrainingReporter | None = None) -> TrainResult:
    # Data-loading workers that crash leave their temporary folders (pymp-*): theirs live in the run's own.
    with private_temporaries("animcli-train-") if options.num_workers else contextlib.nullcontext():
        run = TrainingRun(options, reporter)
        try:
            return run.fit(reporter)
        finally:
            run.world.close()
            run.lock.release()
