"""The batch manifest: a JSON Lines file, one animate job per line.

``{"source": …, "driving": …, "output": …, <animate option>: …}`` — the options are the fields of
:class:`~animcli.workflows.request.AnimateRequest` (``animcli animate``'s long option names in snake_case). Every line
is checked before anything runs, so a typo on line 900 is reported before 899 jobs have been spent.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from animcli.common.errors import AnimcliError
from animcli.jobs.tasks import worker_threads
from animcli.workflows.request import PATH_IF_EXISTS, AnimateRequest, ModelCache, coerce_field, run_animation

REQUIRED_KEYS = ("source", "driving", "output")
STDIO = "-"


class ManifestError(AnimcliError):
    """A manifest line that cannot be run; the message names the file and line."""


@dataclass(frozen=True)
class Job:
    """One manifest line, ready to run in a worker (``run`` returns the number of frames written)."""

    line: int
    request: AnimateRequest

    def run(self, models: ModelCache) -> int:
        # Without explicit threads the animator would take every core; a worker has its share.
        request = self.request if self.request.threads else replace(self.request, threads=worker_threads())
        return run_animation(request, cache=models).frames


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
            job = Job(number, parse_line(text, path.parent))
        except ValueError as exc:
            raise ManifestError(f"{path}:{number}: {exc}") from None
        output = str(Path(job.request.output).resolve())
        if output in outputs:
            raise ManifestError(f"{path}:{number}: output {job.request.output} is also line {outputs[output]}'s")
        outputs[output] = number
        jobs.append(job)
    if not jobs:
        raise ManifestError(f"{path}: no jobs (expected one JSON object per line)")
    return jobs


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
    values = {key: _field_value(key, value, folder) for key, value in record.items()}
    request = AnimateRequest(**values)
    try:  # what can be checked without reading the files
        request.model_spec()
        request.trim()
    except AnimcliError as exc:
        raise ValueError(str(exc)) from None
    return request


def _field_value(key: str, value: Any, folder: Path) -> Any:
    known = {item.name: item for item in fields(AnimateRequest)}
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
    return _resolve(coerced, known[key].metadata.get("path"), folder)


def _resolve(value: Any, rule: str | None, folder: Path) -> Any:
    if value is None or rule is None:
        return value
    text = str(value)
    candidate = folder / Path(text).expanduser()  # an absolute path stays itself
    if rule == PATH_IF_EXISTS and not candidate.exists():
        return value  # a registry or config name
    # A trailing separator is meaningful to the writer (a folder of frames), and Path would drop it.
    return type(value)(str(candidate) + (os.sep if text.endswith(("/", os.sep)) else ""))
