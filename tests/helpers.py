"""Assertions and small inputs shared by the tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from typer.testing import CliRunner, Result


def assert_close(actual: torch.Tensor | np.ndarray, expected: np.ndarray, atol: float, name: str = "") -> None:
    actual_np = actual.detach().cpu().numpy() if isinstance(actual, torch.Tensor) else np.asarray(actual)
    assert actual_np.shape == expected.shape, f"{name}: shape {actual_np.shape} != {expected.shape}"
    diff = float(np.abs(actual_np.astype(np.float64) - expected.astype(np.float64)).max())
    assert diff <= atol, f"{name}: max abs diff {diff:.3g} > {atol}"


def assert_not_close(actual: torch.Tensor | np.ndarray, expected: np.ndarray, atol: float, name: str = "") -> None:
    actual_np = actual.detach().cpu().numpy() if isinstance(actual, torch.Tensor) else np.asarray(actual)
    diff = float(np.abs(actual_np.astype(np.float64) - expected.astype(np.float64)).max())
    assert diff > atol, f"{name}: unexpectedly within {atol} (max abs diff {diff:.3g})"


def load_prefixed(module: torch.nn.Module, arrays: dict[str, np.ndarray], prefix: str) -> torch.nn.Module:
    """``module`` with the weights stored as ``<prefix>.<state-dict name>`` in ``arrays``, loaded strictly (so
    the names and shapes are checked too), in eval mode."""
    state = {key[len(prefix) + 1:]: torch.from_numpy(value) for key, value in arrays.items()
             if key.startswith(prefix + ".")}
    module.load_state_dict(state, strict=True)
    return module.eval()


def write_inputs(root: Path, source: np.ndarray, driving: np.ndarray) -> tuple[Path, Path]:
    """A uint8 source image and driving frames (H, W, 3) as ``root/source.png`` and a ``root/driving/`` folder."""
    cv2.imwrite(str(root / "source.png"), cv2.cvtColor(source, cv2.COLOR_RGB2BGR))
    (root / "driving").mkdir()
    for index, frame in enumerate(driving):
        cv2.imwrite(str(root / "driving" / f"{index:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return root / "source.png", root / "driving"


def moving_square(count: int, size: int = 64) -> np.ndarray:
    """``count`` frames of a bright square moving right over a dark background (uint8, (count, size, size, 3))."""
    clip = np.full((count, size, size, 3), 20, np.uint8)
    for index in range(count):
        clip[index, 20:40, 8 + 4 * index:28 + 4 * index] = (220, 180, 40)
    return clip


def write_moving_square(folder: Path, count: int) -> tuple[Path, Path]:
    """FOLDER/source.png (the first frame) and FOLDER/driving.mp4 (``count`` frames, 10 fps) of ``moving_square``."""
    from animcli.media import write_image, write_video

    source, driving = folder / "source.png", folder / "driving.mp4"
    write_image(source, moving_square(1)[0])
    write_video(driving, moving_square(count), fps=10)
    return source, driving


def invoke(*args: object, **kwargs: object) -> Result:
    """``animcli ARGS`` through Typer's runner (arguments as strings, ``kwargs`` to the runner's invoke)."""
    from animcli.cli import app

    return CliRunner().invoke(app, [str(arg) for arg in args], **kwargs)
