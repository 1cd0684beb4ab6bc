"""Users' files: written safely (into a hidden sibling first, renamed over the target only on success) and
identified by content (sha256).

A failed or interrupted write therefore never leaves a truncated file or clobbers an existing one, and the
rename is atomic because both names are in the same directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def temporary_sibling(path: Path) -> Path:
    """A hidden, unique name beside ``path`` that keeps its suffix (ffmpeg picks the container from it)."""
    return path.with_name(f".{path.stem}.partial-{secrets.token_hex(4)}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields the temporary path to write; it replaces ``path`` when the block succeeds, else is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        yield temporary
        if temporary.is_file():
            # Some writers (safetensors) create 0600 files: give the result the permissions a plain write would.
            temporary.chmod(path.stat().st_mode & 0o7777 if path.is_file() else _default_file_mode())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def sha256_of_file(path: Path, chunk_size: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks (checkpoints are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
