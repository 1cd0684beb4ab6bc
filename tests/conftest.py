"""Shared test fixtures: where the reference data lives, and tiny helpers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

REFERENCE_ENV = "ANIMCLI_REFERENCE_DIR"


def _reference_dir() -> Path | None:
    configured = os.environ.get(REFERENCE_ENV)
    candidate = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "reference"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The shared reference folder; CI (ANIMCLI_REQUIRE_REFERENCE=1) fails instead of skipping without it."""
    found = _reference_dir()
    if found is None:
        message = f"shared reference data not found (set {REFERENCE_ENV} to ../shared/reference)"
        if os.environ.get("ANIMCLI_REQUIRE_REFERENCE"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def shared_dir(reference_dir: Path) -> Path:
    """The whole shared folder (datasets/, samples/ beside reference/)."""
    return reference_dir.parent


@pytest.fixture(scope="session", autouse=True)
def _engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Graphs the engine exports go to this session's own cache, never the user's (subprocesses inherit it)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("ANIMCLI_CACHE_DIR", str(tmp_path_factory.mktemp("animcli-cache")))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)
    np.random.seed(0)



@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """torch on one thread, for modules that run small models: as fast, and on a machine shared with other jobs
    far faster than threads waiting for each other (measured 2 s against 58 s for one demo-model animation)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
