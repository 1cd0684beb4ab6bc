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


#: A config is a few hundred values; YAML aliases can make a small file expand to billions ("billion laughs"), which
#: then costs minutes and gigabytes wherever the config is walked or serialised (the export cache key).
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 32
#: The range of every size-like model value, wherever it appears under ``model_params`` (name → type, lowest,
#: highest; a lowest of 0.0 for a float means "more than 0"). Wide enough for every published model many times
#: over, narrow enough that a typo cannot ask for terabytes before a network is built.
MODEL_VALUE_RANGES: dict[str, tuple[type, float, float]] = {
    "num_kp": (int, 1, 1024), "num_tps": (int, 1, 256), "num_channels": (int, 1, 4),
    "block_expansion": (int, 1, 4096), "max_features": (int, 1, 16384), "num_blocks": (int, 1, 16),
    "num_down_blocks": (int, 0, 16), "num_bottleneck_blocks": (int, 0, 64), "num_refinement_blocks": (int, 0, 64),
    "num_group_blocks": (int, 0, 64), "pad": (int, 0, 64), "id_bottle_size": (int, 1, 8192),
    "pose_bottle_size": (int, 1, 8192), "num_features": (int, 1, 8192), "num_layers": (int, 1, 64),
    "scale_factor": (float, 0.0, 1), "temperature": (float, 0.0, 1e4),
}
#: The same for the top-level values of the latent families' configs (LIA, LIA-X: no ``model_params``).
TOP_LEVEL_RANGES: dict[str, tuple[type, float, float]] = {
    "size": (int, 8, 4096), "style_dim": (int, 1, 8192), "motion_dim": (int, 1, 1024),
    "direction_rows": (int, 1, 8192), "channel_multiplier": (int, 1, 8),
}
#: Frame sides a model may be configured for (``dataset_params.frame_shape``).
FRAME_SIDE_RANGE = (8, 4096)


def load_config_file(path: Path) -> dict[str, Any]:
    note_input(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ModelError(f"cannot read config {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ModelError(f"config {path} is not UTF-8 text (byte {exc.start})") from None
    try:
        config = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ModelError(f"config {path} is not valid {path.suffix.lstrip('.').upper()}: "
                         f"{str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise ModelError(f"config {path} nests deeper than {MAX_CONFIG_DEPTH} levels") from None
    if not isinstance(config, dict):
        raise ModelError(f"config {path} does not hold a mapping")
    return check_config(config, f"config {path}")


def check_config(config: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """``config`` itself, after refusing in one line what cannot describe a model: an expansion past
    ``MAX_CONFIG_VALUES`` values or ``MAX_CONFIG_DEPTH`` levels (YAML aliases), and a model value of the wrong type
    or outside its range (``MODEL_VALUE_RANGES``, ``TOP_LEVEL_RANGES``, the frame shape) — before any network is
    built from it. The constructors' own signatures check the remaining keys' types (``construction.construct``)."""
    _check_expansion(config, where)
    model_params = config.get("model_params")
    if isinstance(model_params, dict):
        for path, key, value in _items(model_params, "model_params"):
            if key in MODEL_VALUE_RANGES:
                _check_range(value, MODEL_VALUE_RANGES[key], path, where)
            elif key == "kp_variance" and not (value in ("matrix", "single") or _in_range(value, (float, 0.0, 1e4))):
                raise ModelError(f"{where} value '{path}' must be matrix, single or a number above 0, got {value!r}")
    else:
        for key, limits in TOP_LEVEL_RANGES.items():
            if key in config:
                _check_range(config[key], limits, key, where)
    dataset = config.get("dataset_params")
    shape = dataset.get("frame_shape") if isinstance(dataset, dict) else None
    if shape is not None:
        if not isinstance(shape, list | tuple) or len(shape) not in (2, 3):
            raise ModelError(f"{where} value 'dataset_params.frame_shape' must be [H, W] or [H, W, C], got {shape!r}")
        for index, side in enumerate(shape[:2]):
            _check_range(side, (int, *FRAME_SIDE_RANGE), f"dataset_params.frame_shape[{index}]", where)
    return config


def _check_expansion(config: Any, where: str) -> None:
    stack, count = [(config, 1)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ModelError(f"{where} expands to more than {MAX_CONFIG_VALUES} values (YAML aliases?); "
                             "refusing it")
        if depth > MAX_CONFIG_DEPTH:
            raise ModelError(f"{where} nests deeper than {MAX_CONFIG_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list | tuple) else ()
        stack.extend((child, depth + 1) for child in children)


def _items(node: Any, path: str) -> Any:
    """(dotted path, key, value) of every mapping entry under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", key, value
            yield from _items(value, f"{path}.{key}")


def _in_range(value: Any, limits: tuple[type, float, float]) -> bool:
    kind, lowest, highest = limits
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # NaN != NaN
        return False
    if kind is int and not isinstance(value, int):
        return False
    exclusive = kind is float and lowest == 0.0
    return (value > lowest if exclusive else value >= lowest) and value <= highest


def _check_range(value: Any, limits: tuple[type, float, float], path: str, where: str) -> None:
    if not _in_range(value, limits):
        kind, lowest, highest = limits
        what = "a whole number" if kind is int else "a number"
        low = f"above {lowest:g}" if kind is float and lowest == 0.0 else f"from {lowest:g}"
        raise ModelError(f"{where} value '{path}' must be {what} {low} to {highest:g}, got {value!r}")


def resolve_config(spec: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A config from a dict, a file path, or the name of a config shipped in ``checkpoints/configs`` (checked by
    :func:`check_config` in every case)."""
    if isinstance(spec, dict):
        return check_config(spec)
    path = Path(spec)
    if path.is_file():
        return load_config_file(path)
    for suffix in (".yaml", ".yml", ".json"):
        candidate = configs_dir() / f"{spec}{suffix}"
        if candidate.is_file():
            return load_config_file(candidate)
    names = ", ".join(shipped_config_names())
    raise ModelError(f"config {str(spec)!r} is neither a file nor a shipped config name ({names})")
