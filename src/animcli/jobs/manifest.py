"""The batch manifest: a JSON Lines file, one animate job per line.

``{"source": …, "driving": …, "output": …, <animate option>: …}`` — the options are the fields of
:class:`~animcli.workflows.request.AnimateRequest` (``animcli animate``'s long option names in snake_case). Every line
is checked before anything runs, so a typo on line 900 is reported before 899 jobs have been spent — and so is
every output against every job's inputs and the manifest itself: no job may write over what another job (or
itself) reads. Each job then runs inside the same input protection as ``animcli animate``.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from animcli.common.errors import AnimcliError
from animcli.common.files import note_input, run_scope
from animcli.jobs.tasks import worker_threads
from animcli.media.writers import writes_a_folder
from animcli.workflows.request import (
    PATH_IF_EXISTS,
    AnimateRequest,
    ModelCache,
    coerce_field,
    legacy_field,
    request_fields,
    run_animation,
)

REQUIRED_KEYS = ("source", "driving", "output")
STDIO = "-"


class ManifestError(AnimcliError):
    """A manifest line that cannot be run; the message names the file and line."""


@dataclass(frozen=True)
class Job:
    """One manifest line, ready to run in a worker (``run`` returns the number of frames written)."""

    line: int
    request: AnimateRequest
    #: files the job must never write over besides its own inputs (the manifest)
    protects: tuple[Path, ...] = ()

    def run(self, models: ModelCache) -> int:
        # Without explicit threads the animator would take every core; a worker has its share.
        request = self.request if self.request.threads else replace(self.request, threads=worker_threads())
        with run_scope():  # the protection `animcli animate` runs in: the job's inputs are never written over
            for path in self.protects:
                note_input(path)
            return run_animation(request, cache=models).frames

    def inputs(self) -> Iterator[tuple[str, Path]]:
        """(field, path) of every file or folder the job reads."""
        for name, (declared, _) in request_fields().items():
            value = getattr(self.request, name)
            rule = declared.metadata.get("path")
            if name == "output" or rule is None or value is None or str(value) == STDIO:
                continue
            path = Path(value)
            if rule != PATH_IF_EXISTS or path.exists():  # otherwise a registry or config name
                yield name, path


def read_manifest(path: Path) -> list[Job]:
    """Every job of the manifest at ``path``, in file order; raises ``ManifestError`` on the first bad line.
    Blank lines are allowed; relative paths resolve against the manifest's folder."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc})") from None
    jobs: list[Job] = []
    outputs: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            job = Job(number, parse_line(text, path.parent), (path,))
        except ValueError as exc:
            raise ManifestError(f"{path}:{number}: {exc}") from None
        output = str(Path(job.request.output).resolve())
        if output in outputs:
            raise ManifestError(f"{path}:{number}: output {job.request.output} is also line {outputs[output]}'s")
        outputs[output] = number
        jobs.append(job)
    if not jobs:
        raise ManifestError(f"{path}: no jobs (expected one JSON object per line)")
    check_outputs(jobs, path)
    return jobs


def check_outputs(jobs: list[Job], manifest: Path) -> None:
    """Refuse, before anything runs, an output that is (or resolves to, through a symlink or a hard link) a file
    any job reads or the manifest itself, and a folder output that holds one: with ``--overwrite`` such a job
    would replace another job's input (or its own), without it would be "skipped" though it never ran."""
    readers: dict[Path, tuple[int, str]] = {}  # resolved path → (line, field) of the first job reading it
    for job in jobs:
        for name, path in job.inputs():
            readers.setdefault(path.resolve(), (job.line, name))
    readers[manifest.resolve()] = (0, "manifest")
    identities = {identity: reader for path, reader in readers.items() if (identity := _identity(path)) is not None}

    folders: dict[Path, Job] = {}
    for job in jobs:
        output = Path(job.request.output)
        resolved = output.resolve()
        reader = readers.get(resolved) or identities.get(_identity(output))
        if reader is not None:
            raise ManifestError(f"{manifest}:{job.line}: output {job.request.output} is {_reader(reader, job.line)}; "
                                "choose another output")
        if writes_a_folder(job.request.output):
            folders[resolved] = job
    if folders:  # a folder output is replaced as a whole: nothing read may live inside it
        for path, reader in readers.items():
            holder = next((folders[parent] for parent in path.parents if parent in folders), None)
            if holder is not None:
                raise ManifestError(f"{manifest}:{holder.line}: output folder {holder.request.output} holds "
                                    f"{_reader(reader, holder.line)} ({path}); choose another output")


def _reader(reader: tuple[int, str], line: int) -> str:
    """`the manifest`, `its own driving` or `line 3's source`, as seen from the job on ``line``."""
    number, name = reader
    if number == 0:
        return "the manifest"
    return f"its own {name}" if number == line else f"line {number}'s {name}"


def _identity(path: Path) -> tuple[int, int] | None:
    with contextlib.suppress(OSError):
        status = path.stat()
        return status.st_dev, status.st_ino
    return None


def parse_line(text: str, folder: Path) -> AnimateRequest:
    """One manifest line as a request; raises ``ValueError`` saying what is wrong with it."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    values = {key: _field_value(key, value, folder) for key, value in (legacy_field(*item) for item in record.items())}
    request = AnimateRequest(**values)
    try:  # what can be checked without reading the files
        request.model_spec()
        request.trim()
    except AnimcliError as exc:
        raise ValueError(str(exc)) from None
    return request


def _field_value(key: str, value: Any, folder: Path) -> Any:
    known = request_fields()
    if key not in known:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
        raise ValueError(f"unknown option {key!r}{hint}")
    try:
        coerced = coerce_field(key, value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None
    if key in REQUIRED_KEYS and (coerced is None or str(coerced) == STDIO):
        raise ValueError(f"{key} must be a file path (stdin/stdout cannot be shared by a batch)")
    if key in REQUIRED_KEYS and not str(coerced).strip():
        raise ValueError(f"{key} is empty (it would name the manifest's folder)")
    return _resolve(coerced, known[key][0].metadata.get("path"), folder)


def _resolve(value: Any, rule: str | None, folder: Path) -> Any:
    if value is None or rule is None:
        return value
    text = str(value)
    candidate = folder / Path(text).expanduser()  # an absolute path stays itself
    if rule == PATH_IF_EXISTS and not candidate.exists():
        return value  # a registry or config name
    # A trailing separator is meaningful to the writer (a folder of frames), and Path would drop it.
    return type(value)(str(candidate) + (os.sep if text.endswith(("/", os.sep)) else ""))
