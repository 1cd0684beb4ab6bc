"""What a training run was started with, kept in its folder (``run.json``) so that ``--resume`` needs only
``--out``: the model or family, the data, the task, the loss and precision choices, the seed and the threads.

On ``--resume`` an option that is not given takes the recorded value; one given with a different value is
refused (it would not continue the same run), except ``--data`` and ``--vgg-weights`` (the same files may
have moved) and ``--threads`` (speed only), which are announced. Runs from before the record existed resume
as they did: with ``--model`` and ``--data`` given again.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animcli.common.errors import AnimcliError
from animcli.common.files import atomic_path

if TYPE_CHECKING:
    from animcli.train.options import TrainOptions

RECORD_NAME = "run.json"
#: the remembered options, each with the value a fresh run takes when it is not given
DEFAULTS: dict[str, Any] = {"model": None, "data": None, "task": "animation", "perceptual": "vgg", "precision": "auto",
                            "seed": 0, "vgg_weights": None, "threads": None}
#: what a fresh run must be given
REQUIRED = {"model": "a family or a model to fine-tune", "data": "the dataset root"}
#: remembered options that a resume may change (announced): the same files may have moved, threads are speed
CHANGEABLE = {"data", "vgg_weights", "threads"}
#: options a resume ignores, because the run's own files settle them
SETTLED_BY_THE_RUN = {"config": "the run continues with its own config", "batch_size": "the run's config holds it"}


class RunChoiceError(AnimcliError):
    """An option given on --resume that differs from the run's own choice."""


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def read_record(run: Path) -> dict[str, Any] | None:
    """The run folder's record, or None for a run from before records (or no run at all)."""
    path = run / RECORD_NAME
    return json.loads(path.read_text()) if path.is_file() else None


def write_record(run: Path, options: TrainOptions, family: str) -> None:
    """Write the settled options of a fresh run (a model path is kept absolute, so resuming works from anywhere)."""
    record: dict[str, Any] = {name: getattr(options, name) for name in DEFAULTS}
    if record["model"] is not None and Path(record["model"]).is_file():
        record["model"] = str(Path(record["model"]).resolve())
    for name in ("data", "vgg_weights"):
        if record[name] is not None:
            record[name] = str(Path(record[name]).resolve())
    record["family"] = family
    with atomic_path(run / RECORD_NAME) as temporary:
        temporary.write_text(json.dumps(record, indent=1) + "\n")


def recorded_family(run: Path) -> str | None:
    record = read_record(run)
    return None if record is None else record["family"]


def settled(options: TrainOptions) -> TrainOptions:
    """``options`` with every remembered option decided: the given value, else (on --resume) the run's, else
    the default. Raises RunChoiceError for a given value that contradicts the run's."""
    record = read_record(options.out) if options.resume else None
    if record is None:
        for name, what in REQUIRED.items():
            if getattr(options, name) is None:
                raise RunChoiceError(f"{flag(name)} ({what}) is required for a new training run" +
                                     (f", and to resume a run from before animcli kept {RECORD_NAME}"
                                      if options.resume else ""))
        return dataclasses.replace(options, **{name: default for name, default in DEFAULTS.items()
                                               if getattr(options, name) is None})
    for name, reason in SETTLED_BY_THE_RUN.items():
        if getattr(options, name) is not None:
            warnings.warn(f"{flag(name)} is ignored on --resume: {reason}", stacklevel=2)
    chosen = {name: _resumed_value(name, getattr(options, name), record.get(name)) for name in DEFAULTS}
    paths = {name: None if chosen[name] is None else Path(chosen[name]) for name in ("data", "vgg_weights")}
    return dataclasses.replace(options, **{**chosen, **paths})


def _resumed_value(name: str, given: Any, recorded: Any) -> Any:
    if given is None or _same(name, given, recorded):
        return recorded if given is None else given
    if name in CHANGEABLE:
        warnings.warn(f"{flag(name)} {given} replaces the run's {recorded if recorded is not None else 'default'}",
                      stacklevel=3)
        return given
    was = f"{flag(name)} {recorded}" if recorded is not None else f"no {flag(name)}"
    raise RunChoiceError(f"this run was started with {was}; resume it without {flag(name)} (it remembers) or "
                         "start a new run in another --out")


def _same(name: str, given: Any, recorded: Any) -> bool:
    if name in ("model", "data", "vgg_weights") and recorded is not None and Path(str(given)).exists():
        return Path(str(given)).resolve() == Path(recorded).resolve()
    return str(given) == str(recorded)
