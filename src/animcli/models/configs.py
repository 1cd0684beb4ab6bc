"""Model configs: the official YAML (FOMM, Monkey-Net) / JSON (LIA) layouts, by path or by shipped name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from animcli.common.errors import ModelError
from animcli.common.files import note_input


def checkpoints_dir() -> Path:
    """The project's ``checkpoints/`` folder: next to ``src/`` in a checkout, packaged in a wheel."""
    packaged = Path(__file__).parents[1] / "_checkpoints"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[3] / "checkpoints"


def configs_dir() -> Path:
    return checkpoints_dir() / "configs"


def shipped_config_names() -> list[str]:
    return sorted(p.stem for p in configs_dir().glob("*") if p.suffix in {".yaml", ".yml", ".json"})


def load_config_file(path: Path) -> dict[str, Any]:
    note_input(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ModelError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        config = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ModelError(f"config {path} is not valid {path.suffix.lstrip('.').upper()}: "
                         f"{str(exc).splitlines()[0]}") from None
    if not isinstance(config, dict):
        raise ModelError(f"config {path} does not hold a mapping")
    return config


def resolve_config(spec: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A config from a dict, a file path, or the name of a config shipped in ``checkpoints/configs``."""
    if isinstance(spec, dict):
        return spec
    path = Path(spec)
    if path.is_file():
        return load_config_file(path)
    for suffix in (".yaml", ".yml", ".json"):
        candidate = configs_dir() / f"{spec}{suffix}"
        if candidate.is_file():
            return load_config_file(candidate)
    names = ", ".join(shipped_config_names())
    raise ModelError(f"config {str(spec)!r} is neither a file nor a shipped config name ({names})")
