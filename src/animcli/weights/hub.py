"""The Hugging Face Hub: file addresses, where the Hub and its cache are, download, and why a download failed.

Everything animcli fetches from the Hub (model checkpoints, the VGG19 weights of the perceptual loss) goes
through ``huggingface_hub.hf_hub_download`` here, into the standard Hugging Face cache.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from animcli.common.errors import RegistryError
from animcli.common.files import remembered_sha256

HUB_SCHEME = "hf://"
# How long the endpoint's host may take to resolve and accept a connection before it counts as unreachable.
REACHABILITY_TIMEOUT_S = 1.5


class SourceUnavailable(Exception):
    """One source of a file could not provide a usable copy; the message says why."""


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
    source = HubFile(repo_id=f"{parts[0]}/{parts[1]}", filename=parts[2], revision=revision or None,
                     repo_type=repo_type)
    problem = invalid_hub_address(source)
    if problem is not None:
        raise RegistryError(f"cannot use {uri!r}: {problem}")
    return source


def invalid_hub_address(source: HubFile) -> str | None:
    """What huggingface_hub would refuse in the address (a repository name it does not allow, a ``..`` path
    segment), as one line; None when it is well formed."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(source.repo_id)
    except HFValidationError as exc:
        return str(exc).strip().splitlines()[0]
    if ".." in source.filename.replace("\\", "/").split("/"):
        return f"the file name {source.filename!r} has a '..' segment"
    return None


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


@functools.cache
def endpoint_unreachable(endpoint: str) -> str | None:
    """Why ``endpoint`` cannot be reached (name not resolved, connection refused or timed out), or None.

    huggingface_hub retries network errors with growing waits (five retries, about half a minute) before it
    gives up, which made every offline failure slow. One plain connection attempt, once per process and
    endpoint, tells a missing network apart in a second; the name lookup runs in a daemon thread because
    ``getaddrinfo`` takes no timeout of its own.
    """
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=REACHABILITY_TIMEOUT_S).close()
            outcome.append(None)
        except socket.gaierror:
            outcome.append(f"cannot resolve {host}")
        except OSError as exc:
            outcome.append(f"cannot connect to {host}:{port}: {exc.strerror or exc}")

    attempt = threading.Thread(target=connect, daemon=True)
    attempt.start()
    attempt.join(REACHABILITY_TIMEOUT_S + 0.5)
    return outcome[0] if outcome else f"no answer from {host} within {REACHABILITY_TIMEOUT_S:g} s"


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
    """The file's path in the Hugging Face cache, downloaded (huggingface_hub's progress bar) if needed;
    SourceUnavailable with a one-line reason when it cannot be had."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    problem = invalid_hub_address(source)
    if problem is not None:
        raise SourceUnavailable(f"not a valid Hub address: {problem}")
    unreachable = None if settings.offline else endpoint_unreachable(settings.endpoint)
    try:
        with _quiet_retries():
            # Unreachable: only the cache can answer (as huggingface_hub itself would after its retries).
            path = hf_hub_download(repo_id=source.repo_id, filename=source.filename, revision=source.revision,
                                   repo_type=source.repo_type, endpoint=settings.endpoint,
                                   cache_dir=settings.cache_dir,
                                   local_files_only=settings.offline or unreachable is not None)
    except LocalEntryNotFoundError as exc:
        reason = (hub_failure_reason(exc, settings) if unreachable is None
                  else f"{settings.endpoint} unreachable ({unreachable}), and not cached")
        raise SourceUnavailable(reason) from None
    except transfer_errors() as exc:
        raise SourceUnavailable(hub_failure_reason(exc, settings)) from None
    return Path(path)


def hub_file_size(source: HubFile, settings: HubSettings) -> int | None:
    """The file's size as the Hub reports it (one metadata request), or None when it cannot say."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(source.repo_id, source.filename, repo_type=source.repo_type, revision=source.revision,
                     endpoint=settings.endpoint)
    try:
        with _quiet_retries():
            return get_hf_file_metadata(url, endpoint=settings.endpoint, timeout=REACHABILITY_TIMEOUT_S * 4).size
    except transfer_errors():
        return None


def cached_hub_file(source: HubFile, settings: HubSettings) -> Path | None:
    """The file's path if the Hugging Face cache already holds it; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    if invalid_hub_address(source) is not None:
        return None
    found = try_to_load_from_cache(
        source.repo_id, source.filename, cache_dir=settings.cache_dir, revision=source.revision,
        repo_type=source.repo_type,
    )
    return Path(found) if isinstance(found, str) else None


def cache_blob_problem(snapshot_path: Path) -> str | None:
    """Why a file in the Hugging Face cache is not the one the Hub sent, or None.

    The cache names each blob by the ETag the Hub reported at download: a large (LFS) file's sha256, a small
    file's git blob id (sha1 of ``blob <size>\\0`` + content). Checking a blob against its own name therefore
    checks it against the Hub's metadata without asking the Hub; the sha256 of a large file is remembered by size,
    mtime and inode, so later runs pay nothing. A file that is not a blob of the cache (no such name) is not
    checked."""
    blob = snapshot_path.resolve()
    name = blob.name
    if blob.parent.name != "blobs" or not all(c in "0123456789abcdef" for c in name):
        return None
    if len(name) == 64:
        digest = remembered_sha256(blob)
        kind = "sha256"
    elif len(name) == 40:
        digest, kind = _git_blob_id(blob), "git blob id"
    else:
        return None
    if digest != name:
        return f"its {kind} is {digest}, the Hub's is {name}"
    return None


def _git_blob_id(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def remove_from_cache(snapshot_path: Path) -> None:
    """Delete a cached file: its snapshot entry and the blob it points to."""
    blob = snapshot_path.resolve()
    snapshot_path.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)
