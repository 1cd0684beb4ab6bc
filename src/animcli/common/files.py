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
import json
import os
import secrets
import shutil
import socket
import tempfile
import time
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
    if replaces_folder and Path.cwd().resolve().is_relative_to(resolved):
        raise OutputError(f"{target}: holds the current folder, which replacing it would remove; choose another "
                          "output")


def check_output_folder(folder: Path, inputs: dict[str, Path | None], *, writes_into: tuple[str, ...] = ()) -> None:
    """Refuse an output folder that is, or lies inside, one of the input folders ``inputs`` (option → path): what
    the run writes there would become part of its data set and break the next run. ``writes_into``: subfolders of
    ``folder`` the run replaces, which must not hold an input either."""
    resolved = folder.resolve()
    for option, source in inputs.items():
        if source is None:
            continue
        held = source.resolve()
        if resolved == held or resolved.is_relative_to(held):
            raise OutputError(f"{folder}: is inside {option} {source}; choose an output folder outside the inputs")
        for name in writes_into:
            if held.is_relative_to(resolved / name):
                raise OutputError(f"{folder}: its {name}/ folder would replace {option} {source}; "
                                  "choose another output folder")


def _same(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def make_parent(path: Path) -> list[Path]:
    """Create ``path``'s folder, with a one-line reason when a file stands where a folder is needed. Returns the
    folders it created, deepest first, for :func:`remove_created` to take away when the write fails."""
    created = []
    for ancestor in (path.parent, *path.parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputError(f"{path}: cannot create it, {ancestor} is a file, not a folder")
            break
        created.append(ancestor)
    path.parent.mkdir(parents=True, exist_ok=True)
    return created


def remove_created(folders: list[Path]) -> None:
    """Remove the folders :func:`make_parent` created (deepest first) as far as they are still empty: a failed or
    interrupted write leaves no trace, not even ``a/b/c/`` for ``-o a/b/c/out.mp4``."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            break


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
    created = make_parent(path)
    temporary = temporary_sibling(path)
    done = False
    try:
        yield temporary
        if temporary.is_file():
            # Some writers (safetensors) create 0600 files: give the result the permissions a plain write would.
            temporary.chmod(path.stat().st_mode & 0o7777 if path.is_file() else _default_file_mode())
        temporary.replace(path)
        done = True
    finally:
        temporary.unlink(missing_ok=True)
        if not done:
            remove_created(created)


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def private_temporaries(prefix: str) -> Iterator[Path]:
    """Inside the block, ``tempfile``'s default folder is a fresh folder of its own, removed afterwards with
    whatever is left in it: child processes forked inside inherit it, so what they leave when they crash (the
    ``pymp-*`` folders of a DataLoader worker) goes too."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    previous, tempfile.tempdir = tempfile.tempdir, str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(folder, ignore_errors=True)


LOCK_NAME = ".animcli-lock"


class FolderLock:
    """An exclusive lock on a folder a run writes into (``flock`` on ``FOLDER/.animcli-lock``): a second run into
    the same folder is refused and told who holds it. The kernel releases the lock whenever the holder ends,
    even by SIGKILL, so a crashed run never leaves a stale lock behind; the file stays (it holds nothing).
    Where ``flock`` does not exist (Windows) the lock is not taken."""

    def __init__(self, folder: Path, what: str) -> None:
        self.folder, self.what = folder, what
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX
            return
        fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 300).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise OutputError(f"{self.folder}: in use by {holder}; wait for it to end or choose another "
                              "folder") from None
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"{self.what} (pid {os.getpid()} on {socket.gethostname()}, since {started})\n".encode())
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    __del__ = release  # a run that failed to start lets go of the folder with its last reference


def remove_stale_temporaries(path: Path) -> None:
    """Delete temporaries of ``path`` (``temporary_sibling``'s pattern) that a killed writer left behind; only
    for files whose writer holds a lock, so that no live writer's temporary is taken away."""
    for stale in path.parent.glob(f".{path.stem}.partial-*{path.suffix}"):
        with contextlib.suppress(OSError):
            stale.unlink()


CACHE_ENV = "ANIMCLI_CACHE_DIR"
DIGESTS_FILE = "digests.json"


def cache_home() -> Path | None:
    """animcli's cache folder: ``$ANIMCLI_CACHE_DIR``, else ``$XDG_CACHE_HOME/animcli`` (``~/.cache/animcli``);
    None when there is no home folder to put it in."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    try:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "animcli"
    except RuntimeError:  # no HOME and no user database entry
        return None


def remembered_sha256(path: Path) -> str:
    """The sha256 of ``path``, remembered in the cache folder by the file's size, modification time and inode,
    so that later runs pay nothing for a file they already hashed (a changed file is hashed again). A cache that
    cannot be written only costs the hashing."""
    status = path.stat()
    key, stamp = str(path.resolve()), [status.st_size, status.st_mtime_ns, status.st_ino]
    home = cache_home()
    memory_file = home / DIGESTS_FILE if home is not None else None
    memory: dict[str, list] = {}
    if memory_file is not None:
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(memory_file.read_text(encoding="utf-8"))
            memory = loaded if isinstance(loaded, dict) else {}
    entry = memory.get(key)
    if isinstance(entry, list) and entry[:3] == stamp and len(entry) == 4:
        return str(entry[3])
    digest = sha256_of_file(path)
    if memory_file is not None:
        memory[key] = [*stamp, digest]
        with contextlib.suppress(OSError):
            memory_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = temporary_sibling(memory_file)
            try:
                temporary.write_text(json.dumps(memory), encoding="utf-8")
                temporary.replace(memory_file)
            finally:
                temporary.unlink(missing_ok=True)
    return digest


def sha256_of_file(path: Path, chunk_size: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks (checkpoints are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
