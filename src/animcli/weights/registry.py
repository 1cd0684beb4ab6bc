"""The model registry: named checkpoints, what they are, and where their files come from.

``checkpoints/registry.toml`` lists every published checkpoint (family, config, input size, default
transfer mode, licence, sources). A user's own file (``$ANIMCLI_REGISTRY`` or
``~/.config/animcli/registry.toml``, written by ``animcli models import``) adds entries or overrides fields
of shipped ones. This module is the entries' data model and the reading and writing of those files;
``fetch`` turns an entry into a verified local file.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tomli_w

from animcli.common.choices import TRANSFER_MODES
from animcli.common.errors import RegistryError
from animcli.common.files import atomic_path
from animcli.models.configs import checkpoints_dir
from animcli.weights.hub import HubFile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REGISTRY_ENV = "ANIMCLI_REGISTRY"
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SHA256 = re.compile(r"[0-9a-f]{64}")


# --- data model ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalFile:
    """A file on disk: bundled with animcli, or registered by ``animcli models import``."""

    path: Path
    file_size: int | None = None
    sha256: str | None = None

    def describe(self) -> str:
        return str(self.path)


Source = HubFile | LocalFile


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    family: str | None = None
    config: str | Path | None = None
    input_size: int | None = None
    default_mode: str | None = None
    license: str | None = None
    homepage: str | None = None
    description: str | None = None
    download_page: str | None = None
    sources: tuple[Source, ...] = ()


# --- registry files --------------------------------------------------------------------------------------

ENTRY_FIELD_TYPES: dict[str, type] = {
    "family": str,
    "config": str,
    "input_size": int,
    "default_mode": str,
    "license": str,
    "homepage": str,
    "description": str,
    "download_page": str,
    "sources": list,
}
HUB_SOURCE_TYPES: dict[str, type] = {
    "repo_id": str, "filename": str, "revision": str, "repo_type": str, "file_size": int, "sha256": str,
}
LOCAL_SOURCE_TYPES: dict[str, type] = {"path": str, "file_size": int, "sha256": str}



def shipped_registry_file() -> Path:
    return checkpoints_dir() / "registry.toml"


def user_registry_file() -> Path:
    configured = os.environ.get(REGISTRY_ENV)
    if configured:
        return Path(configured).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config_home) / "animcli" / "registry.toml"


def read_registry_file(path: Path, *, required: bool) -> dict[str, Any]:
    """The raw ``models`` table of a registry file ({} for a missing optional file)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise RegistryError(f"the model registry {path} is missing from this installation") from None
        return {}
    except OSError as exc:
        raise RegistryError(f"cannot read registry file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise RegistryError(f"registry file {path} is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"registry file {path} is not valid TOML: {exc}") from None
    if set(data) - {"models"} or not isinstance(data.get("models", {}), dict):
        raise RegistryError(f"registry file {path} must hold only [models.NAME] tables")
    return data.get("models", {})


def _checked_fields(raw: Any, types: dict[str, type], where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RegistryError(f"{where} must be a table")
    for key, value in raw.items():
        if key not in types:
            raise RegistryError(f"{where} has an unknown field {key!r} (known: {', '.join(types)})")
        if not isinstance(value, types[key]) or isinstance(value, bool):
            raise RegistryError(f"{where}: {key} must be a {types[key].__name__}")
    return raw


def file_reference(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def config_reference(value: str, base_dir: Path) -> str | Path:
    """A shipped config name stays a name; what looks like a file is a path relative to ``base_dir``."""
    looks_like_file = "/" in value or os.sep in value or Path(value).suffix in CONFIG_SUFFIXES
    return file_reference(value, base_dir) if looks_like_file else value


def parse_source(raw: Any, where: str, base_dir: Path) -> Source:
    if isinstance(raw, dict) and "path" in raw:
        fields = dict(_checked_fields(raw, LOCAL_SOURCE_TYPES, where))
        fields["path"] = file_reference(fields["path"], base_dir)
        source: Source = LocalFile(**fields)
    elif isinstance(raw, dict) and {"repo_id", "filename"} <= set(raw):
        source = HubFile(**_checked_fields(raw, HUB_SOURCE_TYPES, where))
    else:
        raise RegistryError(f"{where} needs either repo_id + filename (a Hub file) or path (a local file)")
    if source.sha256 is not None and not SHA256.fullmatch(source.sha256):
        raise RegistryError(f"{where}: sha256 must be 64 lowercase hex digits")
    return source


def parse_entry_fields(name: str, raw: Any, origin: Path) -> dict[str, Any]:
    """The fields one registry file sets for ``name``, typed; paths are relative to that file's folder."""
    where = f"{origin}: model {name!r}"
    fields = dict(_checked_fields(raw, ENTRY_FIELD_TYPES, where))
    if fields.get("default_mode", TRANSFER_MODES[0]) not in TRANSFER_MODES:
        raise RegistryError(f"{where}: default_mode must be one of {', '.join(TRANSFER_MODES)}")
    if "config" in fields:
        fields["config"] = config_reference(fields["config"], origin.parent)
    if "sources" in fields:
        fields["sources"] = tuple(
            parse_source(source, f"{where} source {index + 1}", origin.parent)
            for index, source in enumerate(fields["sources"])
        )
    return fields


def load_registry() -> dict[str, RegistryEntry]:
    """Shipped entries, with the user's file layered on top field by field."""
    entries: dict[str, RegistryEntry] = {}
    for origin, required in ((shipped_registry_file(), True), (user_registry_file(), False)):
        for name, raw in read_registry_file(origin, required=required).items():
            fields = parse_entry_fields(name, raw, origin)
            entries[name] = replace(entries.get(name, RegistryEntry(name=name)), **fields)
    return entries


def _or_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def closest_names(name: str, known: list[str], cutoff: float = 0.6, margin: float = 0.05) -> list[str]:
    """The known names nearly as similar to ``name`` as the best match (so one clear typo gets one answer)."""
    scores = {candidate: difflib.SequenceMatcher(None, name, candidate).ratio() for candidate in known}
    best = max(scores.values(), default=0.0)
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)
    return [candidate for candidate in ranked[:3] if scores[candidate] >= max(cutoff, best - margin)]


def find_entry(name: str, registry: dict[str, RegistryEntry] | None = None) -> RegistryEntry:
    registry = load_registry() if registry is None else registry
    if name in registry:
        return registry[name]
    close = closest_names(name, list(registry))
    hint = f"did you mean {_or_list(close)}?" if close else "`animcli models list` shows the known names"
    raise RegistryError(f"unknown model {name!r}; {hint}")

# --- the user's registry file ----------------------------------------------------------------------------

USER_FILE_HEADER = (
    "# animcli user model registry: entries here add to or override checkpoints/registry.toml.\n"
    "# Written by `animcli models import`; the format is described at the top of checkpoints/registry.toml.\n"
)



def dump_registry(models: dict[str, dict[str, Any]]) -> str:
    return USER_FILE_HEADER + "\n" + tomli_w.dumps({"models": models})


def write_user_entry(name: str, fields: dict[str, Any]) -> Path:
    """Merge ``fields`` into the user's registry entry ``name`` and save the file."""
    target = user_registry_file()
    models = read_registry_file(target, required=False)
    models[name] = {**models.get(name, {}), **fields}
    with atomic_path(target) as temporary:
        temporary.write_text(dump_registry(models), encoding="utf-8")
    return target


# --- import / push ---------------------------------------------------------------------------------------


def check_model_name(name: str) -> None:
    if not MODEL_NAME.fullmatch(name):
        raise RegistryError(f"{name!r} is not a usable model name (letters, digits, '.', '_', '-')")
