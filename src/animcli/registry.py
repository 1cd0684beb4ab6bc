"""The model registry: named checkpoints, where to get them, and how to check them before use.

``checkpoints/registry.toml`` lists every published checkpoint (family, config, input size, default
transfer mode, licence, sources). A user's own file (``$ANIMCLI_REGISTRY`` or
``~/.config/animcli/registry.toml``, written by ``animcli models import``) adds entries or overrides fields
of shipped ones. Hub files are fetched with ``huggingface_hub.hf_hub_download`` into the standard Hugging Face
cache; sizes and sha256 digests recorded in the registry are checked before a file is ever unpickled.

``resolve_model_spec`` is the single entry point for ``--model``: a registry name, a local path, or
``hf://[spaces/|datasets/]ORG/REPO/FILENAME[@REVISION]``.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animcli.errors import AnimcliError
from animcli.files import atomic_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from animcli.models.base import AnimationModel
    from animcli.safetensors_io import SafetensorsHeader

REGISTRY_ENV = "ANIMCLI_REGISTRY"
HUB_SCHEME = "hf://"
TRANSFER_MODES = ("relative", "absolute")
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SHA256 = re.compile(r"[0-9a-f]{64}")
PUSHED_WEIGHTS = "model.safetensors"
PUSHED_CONFIG = "config.json"
# Licence identifiers the Hub understands in a model card; anything else is published as "other".
HUB_LICENSES = {
    "mit", "apache-2.0", "bsd-3-clause", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0",
}


class RegistryError(AnimcliError):
    """A model name, registry file or download that cannot be used (shown to users as one line)."""


class SourceUnavailable(Exception):
    """One source of a model could not provide a usable file; the message says why."""


# --- data model ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubFile:
    """A file in a Hugging Face Hub repository."""

    repo_id: str
    filename: str
    revision: str | None = None
    repo_type: str = "model"
    file_size: int | None = None
    sha256: str | None = None

    @property
    def uri(self) -> str:
        kind = "" if self.repo_type == "model" else f"{self.repo_type}s/"
        revision = f"@{self.revision}" if self.revision else ""
        return f"{HUB_SCHEME}{kind}{self.repo_id}/{self.filename}{revision}"

    def describe(self) -> str:
        return self.uri


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


@dataclass(frozen=True)
class ResolvedModel:
    """A checkpoint file ready to load, and what the registry knows about it.

    ``config`` is a shipped config name, a path, or None (the checkpoint carries it, or the caller must
    provide one); ``size`` is the input resolution.
    """

    checkpoint: Path
    config: str | Path | dict[str, Any] | None = None
    family: str | None = None
    default_mode: str | None = None
    size: int | None = None
    name: str | None = None


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
    from animcli.configs import checkpoints_dir

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


# --- the Hugging Face Hub --------------------------------------------------------------------------------


def _env_flag(value: str) -> bool:
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


@dataclass(frozen=True)
class HubSettings:
    """Where the Hub is and where its cache lives.

    huggingface_hub reads HF_ENDPOINT / HF_HOME / HF_HUB_CACHE / HF_HUB_OFFLINE once, when it is imported;
    animcli reads them again at each call and passes them explicitly, so a program (or test) that sets them
    after importing gets the documented behaviour. HF_TOKEN is read by huggingface_hub at each call already.
    """

    endpoint: str
    cache_dir: Path
    offline: bool

    @classmethod
    def from_environment(cls) -> HubSettings:
        from huggingface_hub import constants

        env = os.environ
        if env.get("HF_HUB_CACHE"):
            cache_dir = Path(env["HF_HUB_CACHE"]).expanduser()
        elif env.get("HF_HOME"):
            cache_dir = Path(env["HF_HOME"]).expanduser() / "hub"
        else:
            cache_dir = Path(constants.HF_HUB_CACHE)
        offline = _env_flag(env["HF_HUB_OFFLINE"]) if "HF_HUB_OFFLINE" in env else constants.HF_HUB_OFFLINE
        endpoint = env.get("HF_ENDPOINT") or constants.ENDPOINT
        return cls(endpoint=endpoint.rstrip("/"), cache_dir=cache_dir, offline=offline)


def parse_hub_uri(uri: str) -> HubFile:
    """``hf://[spaces/|datasets/]ORG/REPO/FILENAME[@REVISION]`` → HubFile."""
    rest = uri.removeprefix(HUB_SCHEME)
    repo_type = "model"
    for kind in ("spaces", "datasets"):
        if rest.startswith(f"{kind}/"):
            repo_type, rest = kind.removesuffix("s"), rest.removeprefix(f"{kind}/")
    rest, at, revision = rest.rpartition("@") if "@" in rest else (rest, "", "")
    parts = rest.split("/", 2)
    if len(parts) < 3 or not all(parts) or (at and not revision):
        raise RegistryError(f"cannot read {uri!r}: expected hf://ORG/REPO/FILENAME[@REVISION]")
    return HubFile(repo_id=f"{parts[0]}/{parts[1]}", filename=parts[2], revision=revision or None,
                   repo_type=repo_type)


def transfer_errors() -> tuple[type[BaseException], ...]:
    """Everything a Hub call raises for network, HTTP and disk trouble."""
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    # HfHubHTTPError derives from its HTTP client's base error: catching that base also covers connections
    # dropped during a transfer, whichever client this huggingface_hub version uses.
    return (OSError, EntryNotFoundError, *HfHubHTTPError.__bases__)


def hub_failure_reason(error: BaseException, settings: HubSettings) -> str:
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(error, LocalEntryNotFoundError):
        if settings.offline:
            return "not cached, and HF_HUB_OFFLINE=1 forbids downloading"
        return f"{settings.endpoint} unreachable, and not cached"
    if isinstance(error, GatedRepoError):
        return "the repository is gated: accept its terms on the Hub and set HF_TOKEN"
    if isinstance(error, RepositoryNotFoundError):
        return f"no such repository on {settings.endpoint} (or it is private: set HF_TOKEN)"
    if isinstance(error, RevisionNotFoundError):
        return "no such revision in the repository"
    if isinstance(error, RemoteEntryNotFoundError):
        return "no such file in the repository"
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        return f"{settings.endpoint} answered HTTP {error.response.status_code}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def _quiet_retries() -> Iterator[None]:
    """Silence huggingface_hub's per-retry warnings: a failure is reported once, as one line, by the caller
    (its download progress bars are not logging and still show)."""
    hub_logger = logging.getLogger("huggingface_hub")
    previous = hub_logger.level
    hub_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub_logger.setLevel(previous)


def download_hub_file(source: HubFile, settings: HubSettings) -> Path:
    """The file's path in the Hugging Face cache, downloaded (huggingface_hub's progress bar) if needed."""
    from huggingface_hub import hf_hub_download

    try:
        with _quiet_retries():
            path = hf_hub_download(repo_id=source.repo_id, filename=source.filename, revision=source.revision,
                                   repo_type=source.repo_type, endpoint=settings.endpoint,
                                   cache_dir=settings.cache_dir, local_files_only=settings.offline)
    except transfer_errors() as exc:
        raise SourceUnavailable(hub_failure_reason(exc, settings)) from None
    return Path(path)


def cached_hub_file(source: HubFile, settings: HubSettings) -> Path | None:
    """The file's path if the Hugging Face cache already holds it; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        source.repo_id, source.filename, cache_dir=settings.cache_dir, revision=source.revision,
        repo_type=source.repo_type,
    )
    return Path(found) if isinstance(found, str) else None


def remove_from_cache(snapshot_path: Path) -> None:
    """Delete a cached file: its snapshot entry and the blob it points to."""
    blob = snapshot_path.resolve()
    snapshot_path.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)


# --- resolving a model -----------------------------------------------------------------------------------


def sha256_of_file(path: Path, chunk_size: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def integrity_problem(path: Path, source: Source) -> str | None:
    """Why the file is not the one the registry describes; None when it matches or nothing is recorded."""
    size = path.stat().st_size
    if source.file_size is not None and size != source.file_size:
        return f"its size is {size} bytes, the registry records {source.file_size}"
    if source.sha256 is not None:
        digest = sha256_of_file(path)
        if digest != source.sha256:
            return f"its sha256 is {digest}, the registry records {source.sha256}"
    return None


def fetch_source(source: Source, settings: HubSettings) -> Path:
    """A verified local file for one source, or SourceUnavailable saying why not."""
    if isinstance(source, LocalFile):
        if not source.path.is_file():
            raise SourceUnavailable("the file does not exist")
        path = source.path
    else:
        path = download_hub_file(source, settings)
    problem = integrity_problem(path, source)
    if problem is None:
        return path
    if isinstance(source, HubFile):
        remove_from_cache(path)
        raise SourceUnavailable(f"refused: {problem}; the download was removed from the cache")
    raise SourceUnavailable(f"refused: {problem}")


def unavailable_message(entry: RegistryEntry, failures: list[str], settings: HubSettings) -> str:
    tried = "; ".join(failures)
    name = entry.name if MODEL_NAME.fullmatch(entry.name) else "NAME"  # an hf:// address is not a name
    import_hint = f"`animcli models import {name} PATH` registers a file you downloaded yourself"
    if not any(isinstance(source, HubFile) for source in entry.sources):
        return f"cannot use model {entry.name!r}: {tried}; {import_hint}"
    network_hint = (
        "unset HF_HUB_OFFLINE to download"
        if settings.offline
        else f"check the network or HF_ENDPOINT ({settings.endpoint}), or set HF_HUB_OFFLINE=1 to use only cached files"
    )
    return (
        f"cannot get model {entry.name!r}: tried {tried} (cache: {settings.cache_dir}); {network_hint}; "
        f"{import_hint}"
    )


def no_source_message(entry: RegistryEntry) -> str:
    where = entry.download_page or entry.homepage or "its authors' page"
    return (
        f"model {entry.name!r} has no download source that animcli can use: the official checkpoint is "
        f"published only at {where}; download it there, then run `animcli models import {entry.name} PATH`"
    )


def resolve_entry(entry: RegistryEntry, settings: HubSettings | None = None) -> ResolvedModel:
    """The first source of ``entry`` that yields a file passing the registry's size/sha256 checks."""
    if not entry.sources:
        raise RegistryError(no_source_message(entry))
    settings = HubSettings.from_environment() if settings is None else settings
    failures = []
    for source in entry.sources:
        try:
            checkpoint = fetch_source(source, settings)
        except SourceUnavailable as exc:
            failures.append(f"{source.describe()} ({exc})")
            continue
        return ResolvedModel(
            checkpoint=checkpoint,
            config=entry.config,
            family=entry.family,
            default_mode=entry.default_mode,
            size=entry.input_size,
            name=entry.name,
        )
    raise RegistryError(unavailable_message(entry, failures, settings))


def looks_like_path(spec: str) -> bool:
    return "/" in spec or os.sep in spec or spec.startswith((".", "~")) or bool(Path(spec).suffix)


def resolve_model_spec(spec: str) -> ResolvedModel:
    """``--model``: a registry NAME, a local checkpoint path, or ``hf://ORG/REPO/FILENAME[@REVISION]``.

    Registry names win over same-named files in the working directory (write ``./NAME`` for those).
    """
    if spec.startswith(HUB_SCHEME):
        entry = RegistryEntry(name=spec, sources=(parse_hub_uri(spec),))
        return replace(resolve_entry(entry), name=None)
    registry = load_registry()
    if spec in registry:
        return resolve_entry(registry[spec])
    path = Path(spec).expanduser()
    if path.is_file():
        return ResolvedModel(checkpoint=path)
    if path.exists():
        raise RegistryError(f"{spec} is not a checkpoint file")
    if looks_like_path(spec):
        raise RegistryError(f"checkpoint file {spec} does not exist")
    return resolve_entry(find_entry(spec, registry))


# --- listing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelListing:
    """One line of ``animcli models list``; ``status`` is cached | local | downloadable | missing | manual."""

    name: str
    family: str | None
    input_size: int | None
    file_size: int | None
    license: str | None
    status: str
    path: str | None
    description: str | None


def source_status(source: Source, settings: HubSettings) -> tuple[str, Path | None]:
    if isinstance(source, LocalFile):
        return ("local", source.path) if source.path.is_file() else ("missing", None)
    cached = cached_hub_file(source, settings)
    return ("cached", cached) if cached is not None else ("downloadable", None)


def listing_for(entry: RegistryEntry, settings: HubSettings) -> ModelListing:
    statuses = [source_status(source, settings) for source in entry.sources]
    available = [(status, path) for status, path in statuses if path is not None]
    if available:
        status, path = available[0]
    elif any(status == "downloadable" for status, _ in statuses):
        status, path = "downloadable", None
    elif statuses:
        status, path = statuses[0]
    else:
        status, path = "manual", None
    recorded_sizes = [source.file_size for source in entry.sources if source.file_size is not None]
    file_size = path.stat().st_size if path is not None else (recorded_sizes[0] if recorded_sizes else None)
    return ModelListing(
        name=entry.name,
        family=entry.family,
        input_size=entry.input_size,
        file_size=file_size,
        license=entry.license,
        status=status,
        path=str(path) if path is not None else None,
        description=entry.description,
    )


def list_models() -> list[ModelListing]:
    """Every registry entry with its local state, from the disk only (no network)."""
    settings = HubSettings.from_environment()
    return [listing_for(entry, settings) for entry in load_registry().values()]


# --- the user's registry file ----------------------------------------------------------------------------

USER_FILE_HEADER = (
    "# animcli user model registry: entries here add to or override checkpoints/registry.toml.\n"
    "# Written by `animcli models import`; the format is described at the top of checkpoints/registry.toml.\n"
)


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """A TOML literal for the registry's value types (JSON string escapes are valid TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to a registry file")


def dump_registry(models: dict[str, dict[str, Any]]) -> str:
    lines = [USER_FILE_HEADER]
    for name, fields in models.items():
        lines.append(f"[models.{toml_key(name)}]")
        lines.extend(f"{toml_key(key)} = {toml_value(value)}" for key, value in fields.items())
        lines.append("")
    return "\n".join(lines)


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


def load_for_import(
    name: str, path: Path, config: str | Path | None, known: RegistryEntry | None
) -> AnimationModel:
    """Build the model from ``path`` to prove the file is what ``name`` claims to be."""
    from animcli.loading import load_model
    from animcli.models.base import ModelError

    try:
        model = load_model(checkpoint=path, config=config, device="cpu")
    except ModelError as exc:
        raise RegistryError(f"cannot import {path} as {name!r}: {exc}") from None
    if known is not None and known.family is not None and model.family != known.family:
        raise RegistryError(f"{path} is a {model.family} checkpoint, but {name!r} is a {known.family} model")
    if known is not None and known.input_size is not None and model.size != known.input_size:
        raise RegistryError(
            f"{path} builds a {model.size}px model, but {name!r} is a {known.input_size}px model"
        )
    return model


def import_model(name: str, path: Path, config: str | None = None) -> Path:
    """Register a hand-downloaded checkpoint under ``name`` in the user's registry file; returns that file.

    The file is loaded first (with ``config``, or the entry's own config), so a wrong family, config or a
    truncated download is refused here rather than on the next ``animate``.
    """
    check_model_name(name)
    path = path.expanduser().resolve()
    if not path.is_file():
        raise RegistryError(f"{path} is not a file")
    known = load_registry().get(name)
    config_ref = config_reference(config, Path.cwd()) if config is not None else None
    model = load_for_import(name, path, config_ref or (known.config if known else None), known)
    fields: dict[str, Any] = {
        "sources": [{"path": str(path), "file_size": path.stat().st_size, "sha256": sha256_of_file(path)}]
    }
    if config_ref is not None:
        fields["config"] = str(config_ref)
    if known is None:
        fields.update(
            family=model.family,
            input_size=model.size,
            default_mode=model.default_mode,
            description=f"imported from {path.name}",
        )
    return write_user_entry(name, fields)


def hub_license(license_name: str | None) -> str:
    lowered = (license_name or "").lower()
    return lowered if lowered in HUB_LICENSES else "other"


def model_card(repo_id: str, model_name: str, header: SafetensorsHeader, entry: RegistryEntry | None) -> str:
    """README.md for a pushed model: Hub metadata, provenance, usage, licence."""
    license_name = entry.license if entry and entry.license else None
    facts = [f"- family: `{header.family}`"]
    if entry and entry.input_size:
        facts.append(f"- input size: {entry.input_size}×{entry.input_size}")
    if entry and entry.default_mode:
        facts.append(f"- default transfer mode: {entry.default_mode}")
    if entry and entry.homepage:
        facts.append(f"- original project: {entry.homepage}")
    if header.source_sha256:
        facts.append(f"- sha256 of the original checkpoint file: `{header.source_sha256}`")
    description = entry.description if entry and entry.description else f"A {header.family} model."
    licence_text = (
        f"The weights keep the licence of the original release: **{license_name}**."
        if license_name
        else "The licence of the original weights is not recorded: check it before sharing this repository."
    )
    return "\n".join([
        "---",
        f"license: {hub_license(license_name)}",
        "library_name: animcli",
        "tags:",
        "- image-animation",
        f"- {header.family}",
        "---",
        "",
        f"# {model_name}",
        "",
        description,
        "",
        f"`{PUSHED_WEIGHTS}` holds the networks' weights converted from the official checkpoint by "
        f"`animcli models convert`; its header carries the family and the model config (also in "
        f"`{PUSHED_CONFIG}`), so no other file is needed. Nothing in it is pickled.",
        "",
        *facts,
        "",
        "## Use",
        "",
        "```",
        f"animcli animate --model {HUB_SCHEME}{repo_id}/{PUSHED_WEIGHTS} SOURCE_IMAGE DRIVING_VIDEO",
        "```",
        "",
        "## Licence",
        "",
        licence_text,
        "",
    ])


def push_model(spec: str, repo_id: str, *, config: str | None = None, private: bool = False) -> str:
    """Convert ``spec``'s checkpoint to safetensors and upload it with its config and a model card.

    Returns the ``hf://`` address of the pushed weights.
    """
    from huggingface_hub import HfApi

    from animcli.safetensors_io import convert_checkpoint

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise RegistryError(f"--repo-id must be USER/REPO, not {repo_id!r}")
    settings = HubSettings.from_environment()
    if settings.offline:
        raise RegistryError("cannot push while HF_HUB_OFFLINE=1 is set")
    resolved = resolve_model_spec(spec)
    config_spec = config_reference(config, Path.cwd()) if config is not None else resolved.config
    if config_spec is None and resolved.checkpoint.suffix != ".safetensors":
        raise RegistryError(f"{spec} does not say which config it uses: pass --config NAME|PATH")
    with tempfile.TemporaryDirectory(prefix="animcli-push-") as staging:
        folder = Path(staging)
        header = convert_checkpoint(resolved.checkpoint, folder / PUSHED_WEIGHTS, config_spec)
        if header.config is None:
            raise RegistryError(f"{spec} carries no config: pass --config NAME|PATH")
        (folder / PUSHED_CONFIG).write_text(json.dumps(header.config, indent=2, sort_keys=True) + "\n")
        entry = load_registry().get(resolved.name) if resolved.name else None
        model_name = resolved.name or resolved.checkpoint.stem
        (folder / "README.md").write_text(model_card(repo_id, model_name, header, entry), encoding="utf-8")
        api = HfApi(endpoint=settings.endpoint)
        try:
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            api.upload_folder(
                repo_id=repo_id,
                repo_type="model",
                folder_path=folder,
                commit_message=f"Upload {model_name} converted to safetensors by animcli",
            )
        except transfer_errors() as exc:
            raise RegistryError(
                f"pushing to {repo_id} on {settings.endpoint} failed: {hub_failure_reason(exc, settings)} "
                "(pushing needs a write token: HF_TOKEN or `hf auth login`)"
            ) from None
    return f"{HUB_SCHEME}{repo_id}/{PUSHED_WEIGHTS}"
