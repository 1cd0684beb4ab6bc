"""Getting a model's checkpoint file: a ``--model`` spec → a verified local file, and each entry's local state.

Hub files are fetched into the standard Hugging Face cache; sizes and sha256 digests recorded in the
registry are checked before a file is ever unpickled. ``resolve_model_spec`` is the single entry point for
``--model``: a registry name, a local path, or ``hf://[spaces/|datasets/]ORG/REPO/FILENAME[@REVISION]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from animcli.common.errors import RegistryError
from animcli.common.files import remembered_sha256
from animcli.weights.hub import (
    HUB_SCHEME,
    HubFile,
    HubSettings,
    SourceUnavailable,
    cache_blob_problem,
    cached_hub_file,
    download_hub_file,
    endpoint_unreachable,
    hub_file_size,
    parse_hub_uri,
    remove_from_cache,
)
from animcli.weights.registry import MODEL_NAME, LocalFile, RegistryEntry, Source, find_entry, load_registry


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


def integrity_problem(path: Path, source: Source) -> str | None:
    """Why the file is not the one the registry describes — or, for a file in the Hugging Face cache, not the
    one the Hub named when it was downloaded (see ``hub.cache_blob_problem``); None when it matches or nothing is
    recorded. Digests are remembered by size, modification time and inode, so an unchanged file is hashed once."""
    size = path.stat().st_size
    if source.file_size is not None and size != source.file_size:
        return f"its size is {size} bytes, the registry records {source.file_size}"
    if source.sha256 is not None:
        digest = remembered_sha256(path)
        if digest != source.sha256:
            return f"its sha256 is {digest}, the registry records {source.sha256}"
    return cache_blob_problem(path) if isinstance(source, HubFile) else None


def fetch_source(source: Source, settings: HubSettings) -> Path:
    """A verified local file for one source, or SourceUnavailable saying why not. A Hub file that fails the
    check is removed from the cache only when this run downloaded it; a cached copy that was there before (and
    changed since) is left for its owner to look at."""
    if isinstance(source, LocalFile):
        if not source.path.is_file():
            raise SourceUnavailable("the file does not exist")
        path = source.path
    else:
        before = cached_hub_file(source, settings)
        path = download_hub_file(source, settings)
        downloaded = before is None or before.resolve() != path.resolve()
    problem = integrity_problem(path, source)
    if problem is None:
        return path
    if isinstance(source, HubFile):
        if downloaded:
            remove_from_cache(path)
            raise SourceUnavailable(f"refused: {problem}; the download was removed from the cache")
        raise SourceUnavailable(f"refused the cached file {path.resolve()}: {problem}; it changed after it was "
                                "downloaded: delete it to download it again")
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
    """One line of ``animcli models list``; ``status`` is cached | local | downloadable | missing | manual.

    ``source`` says where the model comes from in one string (an ``hf://`` address, a path, or the page to
    download it from by hand); ``sources`` lists every source in full. ``file_size_from`` says where
    ``file_size`` comes from: "local file", "registry" or "hub" (None: unknown, never guessed).
    """

    name: str
    family: str | None
    input_size: int | None
    file_size: int | None
    file_size_from: str | None
    license: str | None
    status: str
    source: str | None
    sources: list[dict[str, Any]]
    download_page: str | None
    path: str | None
    description: str | None


def source_status(source: Source, settings: HubSettings) -> tuple[str, Path | None]:
    if isinstance(source, LocalFile):
        return ("local", source.path) if source.path.is_file() else ("missing", None)
    cached = cached_hub_file(source, settings)
    return ("cached", cached) if cached is not None else ("downloadable", None)


def source_fields(source: Source) -> dict[str, Any]:
    """A source for JSON: its registry fields, the Hub ones spelled out."""
    if isinstance(source, LocalFile):
        return {"path": str(source.path), "file_size": source.file_size, "sha256": source.sha256}
    return {"uri": source.uri, "repo_id": source.repo_id, "filename": source.filename,
            "revision": source.revision, "repo_type": source.repo_type, "file_size": source.file_size,
            "sha256": source.sha256}


def listing_for(entry: RegistryEntry, settings: HubSettings, online: bool) -> ModelListing:
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
    file_size, file_size_from = known_size(entry.sources, path, settings, online)
    return ModelListing(
        name=entry.name,
        family=entry.family,
        input_size=entry.input_size,
        file_size=file_size,
        file_size_from=file_size_from,
        license=entry.license,
        status=status,
        source=entry.sources[0].describe() if entry.sources else entry.download_page,
        sources=[source_fields(source) for source in entry.sources],
        download_page=entry.download_page,
        path=str(path) if path is not None else None,
        description=entry.description,
    )


def known_size(sources: tuple[Source, ...], path: Path | None, settings: HubSettings,
               online: bool) -> tuple[int | None, str | None]:
    """The download size and where it is known from: the local copy, the registry, or (online) the Hub."""
    if path is not None:
        return path.stat().st_size, "local file"
    recorded = [source.file_size for source in sources if source.file_size is not None]
    if recorded:
        return recorded[0], "registry"
    for source in sources:
        if online and isinstance(source, HubFile) and (size := hub_file_size(source, settings)) is not None:
            return size, "hub"
    return None, None


def list_models() -> list[ModelListing]:
    """Every registry entry with its local state and where it comes from. Sizes the registry does not record
    are asked from the Hub when it is reachable (one metadata request per file); offline they stay unknown."""
    settings = HubSettings.from_environment()
    online = not settings.offline and endpoint_unreachable(settings.endpoint) is None
    return [listing_for(entry, settings, online) for entry in load_registry().values()]
