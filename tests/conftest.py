"""Shared test fixtures: where the reference data lives, and tiny helpers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from animcli.media import write_image

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


@pytest.fixture(scope="session")
def model_dir(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """checkpoint.pth.tar (fixture networks + fixture predictor), config.yaml (+ prediction_params), source.png,
    clip/ (the fixture's driving frames)."""
    fixtures = reference_dir / "monkeynet" / "fixtures"
    root = tmp_path_factory.mktemp("predict-model")
    checkpoint = torch.load(fixtures / "checkpoint.pth.tar", weights_only=True)
    checkpoint["predictor"] = torch.load(fixtures / "prediction" / "predictor.pt", weights_only=True)
    torch.save(checkpoint, root / "checkpoint.pth.tar")
    meta = json.loads((fixtures / "prediction" / "prediction_meta.json").read_text())
    config = yaml.safe_load((fixtures / "config.yaml").read_text())
    config["prediction_params"] = {"rnn_params": {"num_features": meta["num_features"], "num_layers": 1,
                                                  "dropout": 0}, "num_frames": 4, "init_frames": 1,
                                   "predict_variance": False}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    inputs = np.load(fixtures / "inputs.npz")
    to_frames = lambda video: np.rint(video[0].transpose(1, 2, 3, 0) * 255).astype(np.uint8)  # noqa: E731
    write_image(root / "source.png", to_frames(inputs["source"])[0])
    for index, frame in enumerate(to_frames(inputs["driving"])):
        write_image(root / "clip" / f"{index:06d}.png", frame)
    return root
