"""Users' files: written safely (into a hidden sibling first, renamed over the target only on success),
never over one of the run's own inputs, and identified by content (sha256).

A failed or interrupted write therefore never leaves a truncated file or clobbers an existing one, and the
rename is atomic because both names are in the same directory.

Input protection: readers call :func:`note_input` for every file or folder they open, and every writer calls
:func:`check_output` before it creates anything, so ``-o`` naming (or resolving to, through symlinks or hard
links) an input is refused whatever the command. The inputs are remembered per run (:func:`run_scope`).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from animcli.common.errors import OutputError

_run_inputs: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar("animcli_run_inputs", default=None)


@contextlib.contextmanager
def run_scope() -> Iterator[None]:
    """Remember the inputs opened inside the block (one command, or one job of a batch); nested scopes share
    the outer one."""
    if _run_inputs.get() is not None:
        yield
        return
    token = _run_inputs.set([])
    try:
        yield
    finally:
        _run_inputs.reset(token)


def note_input(path: str | Path) -> None:
    """Record a file or folder the current run reads (no-op outside a :func:`run_scope`)."""
    inputs = _run_inputs.get()
    if inputs is not None:
        inputs.append(Path(path))


def check_output(target: str | Path, *, replaces_folder: bool = False) -> None:
    """Refuse to write ``target`` when it is one of the run's inputs (same file or folder, also through symlinks
    and hard links), or — for a folder replaced as a whole — when it contains one."""
    target = Path(target)
    resolved = target.resolve()
    for source in _run_inputs.get() or ():
        if _same(source, target) or source.resolve() == resolved:
            raise OutputError(f"{target}: is an input of this run ({source}); choose another output")
        if replaces_folder and source.resolve().is_relative_to(resolved):
            raise OutputError(f"{target}: holds an input of this run ({source}); choose another output")


def _same(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def make_parent(path: Path) -> None:
    """Create ``path``'s folder, with a one-line reason when a file stands where a folder is needed."""
    for ancestor in (path.parent, *path.parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputError(f"{path}: cannot create it, {ancestor} is a file, not a folder")
            break
    path.parent.mkdir(parents=True, exist_ok=True)


def temporary_sibling(path: Path) -> Path:
    """A hidden, unique name beside ``path`` that keeps its suffix (ffmpeg picks the container from it)."""
    return path.with_name(f".{path.stem}.partial-{secrets.token_hex(4)}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: Path, *, updates_input: bool = False) -> Iterator[Path]:
    """Yields the temporary path to write; it replaces ``path`` when the block succeeds, else is removed.

    ``updates_input``: ``path`` is a file this run read in order to update it (a resumed training run's own
    checkpoint), so being an input is expected rather than refused."""
    if not updates_input:
        check_output(path)
    make_parent(path)
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
