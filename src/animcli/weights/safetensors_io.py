"""Pickle-free checkpoints: official pickles converted to safetensors, and read back in the official layout.

A converted file holds the networks' state dicts only (optimiser states, epoch counters and pickled training
arguments are dropped: they are what makes a pickle unsafe and they do not animate anything). Tensor names
are ``<entry>/<state-dict key>``, e.g. ``generator/first.conv.weight`` or ``gen/dec.direction.weight``, so the
nested official layout comes back exactly. The safetensors metadata header (strings only) records the
family and the config as a JSON string, which makes the file self-describing: no ``--config`` is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from animcli.common.errors import ModelError
from animcli.common.files import atomic_path

FORMAT_NAME = "animcli-checkpoint"
ENTRY_SEPARATOR = "/"
#: the entry name of a checkpoint that is a plain state dict (its tensors are stored as "/<key>").
PLAIN_ENTRY = ""


@dataclass(frozen=True)
class SafetensorsHeader:
    """What a converted file says about itself."""

    family: str | None
    config: dict[str, Any] | None
    source_sha256: str | None


def is_state_dict(value: Any) -> bool:
    """A non-empty name → tensor mapping."""
    return isinstance(value, dict) and bool(value) and all(isinstance(t, torch.Tensor) for t in value.values())


def network_state_dicts(checkpoint: dict[str, Any]) -> dict[str, dict[str, torch.Tensor]]:
    """The entries of an official checkpoint that are network state dicts (name → tensor mappings); a checkpoint
    that is itself one state dict (LIA-X's ``lia-x.pt``) is the entry ``PLAIN_ENTRY``."""
    if is_state_dict(checkpoint):
        return {PLAIN_ENTRY: checkpoint}
    networks = {entry: value for entry, value in checkpoint.items() if is_state_dict(value)}
    if not networks:
        raise ModelError("the checkpoint holds no network state dict to convert")
    return networks


def flatten_state_dicts(networks: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``{entry: {key: t}}`` → ``{"entry/key": t}``, contiguous and without shared storage (as safetensors
    requires)."""
    flat: dict[str, torch.Tensor] = {}
    seen_storages: set[int] = set()
    for entry, state_dict in networks.items():
        if ENTRY_SEPARATOR in entry:
            raise ModelError(f"checkpoint entry name {entry!r} contains {ENTRY_SEPARATOR!r}")
        for key, tensor in state_dict.items():
            tensor = tensor.detach().to("cpu").contiguous()
            storage = tensor.untyped_storage().data_ptr()
            if storage in seen_storages and tensor.numel() > 0:
                tensor = tensor.clone()
            seen_storages.add(tensor.untyped_storage().data_ptr())
            flat[f"{entry}{ENTRY_SEPARATOR}{key}"] = tensor
    return flat


def nest_state_dicts(flat: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    networks: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in flat.items():
        entry, separator, key = name.partition(ENTRY_SEPARATOR)
        if not separator:
            raise ModelError(f"tensor {name!r} is not named <entry>{ENTRY_SEPARATOR}<key>")
        networks.setdefault(entry, {})[key] = tensor
    return networks


def header_metadata(
    family: str | None, config: dict[str, Any] | None, source_sha256: str | None
) -> dict[str, str]:
    metadata = {"format": FORMAT_NAME}
    if family is not None:
        metadata["family"] = family
    if config is not None:
        metadata["config"] = json.dumps(config, sort_keys=True)
    if source_sha256 is not None:
        metadata["source_sha256"] = source_sha256
    return metadata


def write_safetensors_checkpoint(
    checkpoint: dict[str, Any],
    output: Path,
    *,
    family: str | None,
    config: dict[str, Any] | None,
    source_sha256: str | None = None,
) -> Path:
    """Write the network state dicts of an official-layout checkpoint atomically to ``output``."""
    from safetensors.torch import save_file

    flat = flatten_state_dicts(network_state_dicts(checkpoint))
    with atomic_path(output) as temporary:
        save_file(flat, str(temporary), metadata=header_metadata(family, config, source_sha256))
    return output


def read_safetensors_header(path: Path) -> SafetensorsHeader:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{path} is not a readable safetensors file ({exc})") from None
    try:
        config = json.loads(metadata["config"]) if "config" in metadata else None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: the config in the safetensors header is not valid JSON ({exc})") from None
    return SafetensorsHeader(metadata.get("family"), config, metadata.get("source_sha256"))


def load_safetensors_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The official nested layout (``{'generator': {...}, 'kp_detector': {...}}``, ``{'gen': {...}}``, or a plain
    state dict) plus, when the header carries one, the model config under ``'config'``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    header = read_safetensors_header(path)
    try:
        flat = load_file(str(path), device=str(torch.device(map_location)))
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{path} is not a readable safetensors file ({exc})") from None
    networks = nest_state_dicts(flat)
    checkpoint: dict[str, Any] = {**networks.pop(PLAIN_ENTRY, {}), **networks}
    if header.config is not None:
        checkpoint["config"] = header.config
    return checkpoint
