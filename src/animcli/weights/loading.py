"""``load_model``: from a registry name, a Hub URL or a local checkpoint (+ config) to a ready model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from animcli.common.devices import resolve_device
from animcli.common.errors import ModelError
from animcli.models import detect_family, family_class
from animcli.models.base import AnimationModel
from animcli.models.configs import load_config_file, resolve_config
from animcli.weights.checkpoint_io import load_checkpoint_file
from animcli.weights.fetch import resolve_model_spec

SIBLING_CONFIGS = ("config.yaml", "config.yml", "config.json")


def _config_beside(checkpoint: Path) -> dict[str, Any] | None:
    """A training run directory holds its config next to the checkpoint (``animcli train`` writes both)."""
    for name in SIBLING_CONFIGS:
        candidate = checkpoint.parent / name
        if candidate.is_file():
            return load_config_file(candidate)
    return None


def config_of(checkpoint_path: Path, checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    """The config a checkpoint loads with when none is given: its own (safetensors files written by
    `animcli models convert`), the run directory's beside it, or one read off its weights; None if none."""
    embedded = checkpoint.get("config")
    if isinstance(embedded, dict):
        return embedded
    beside = _config_beside(checkpoint_path)
    if beside is not None:
        return beside
    return family_class(detect_family(checkpoint=checkpoint)).infer_config(checkpoint)


def _find_config(checkpoint_path: Path, checkpoint: dict[str, Any]) -> dict[str, Any]:
    found = config_of(checkpoint_path, checkpoint)
    if found is None:
        raise ModelError(f"checkpoint {checkpoint_path} needs a config: pass --config PATH|NAME")
    return found


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """A checkpoint read from disk (or the Hub) with the config and family it belongs to."""

    path: Path
    state: dict[str, Any]
    config: dict[str, Any]
    family: str
    default_mode: str | None = None


def read_checkpoint(checkpoint: str | Path | None = None, config: str | Path | dict[str, Any] | None = None, *,
                    model: str | None = None) -> ResolvedCheckpoint:
    """Find, read and identify a checkpoint (see ``load_model`` for the arguments)."""
    default_mode = None
    if model is not None:
        resolved = resolve_model_spec(model)
        checkpoint = resolved.checkpoint
        config = config if config is not None else resolved.config
        default_mode = resolved.default_mode
    if checkpoint is None:
        raise ModelError("no model given: pass --model NAME or --checkpoint PATH")
    checkpoint_path = Path(checkpoint)
    state = load_checkpoint_file(checkpoint_path)
    config_dict = resolve_config(config if config is not None else _find_config(checkpoint_path, state))
    family = detect_family(config=config_dict)
    if not family_class(family).claims_checkpoint(state):
        raise ModelError(f"checkpoint {checkpoint_path} is not a {family} checkpoint, but the config is")
    return ResolvedCheckpoint(checkpoint_path, state, config_dict, family, default_mode)


def load_model(checkpoint: str | Path | None = None, config: str | Path | dict[str, Any] | None = None, *,
               model: str | None = None, device: str = "auto") -> AnimationModel:
    """Build the family's model from ``config`` and strictly load ``checkpoint`` into it, in eval mode.

    ``model`` is a registry name, ``hf://repo_id/filename[@rev]`` or a path; it supplies the checkpoint
    and, unless ``config`` is given, the config and default transfer mode.
    """
    return build_model(read_checkpoint(checkpoint, config, model=model), device=device)


def build_model(resolved: ResolvedCheckpoint, *, device: str = "auto") -> AnimationModel:
    """The family's model for a read checkpoint, its weights strictly loaded, in eval mode on ``device``."""
    animation_model = family_class(resolved.family).from_checkpoint(resolved.config, resolved.state)
    if resolved.default_mode is not None:
        animation_model.default_mode = resolved.default_mode
    return animation_model.eval().to(resolve_device(device))


def random_model(config: str | Path | dict[str, Any], *, seed: int = 0, device: str = "auto") -> AnimationModel:
    """The config's model with its initial (seeded random) weights, in eval mode: for benchmarks and exports
    of an architecture without a checkpoint."""
    config_dict = resolve_config(config)
    torch.manual_seed(seed)
    return family_class(detect_family(config=config_dict))(config_dict).eval().to(resolve_device(device))
