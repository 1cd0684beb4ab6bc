"""Assertions shared by the tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch


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
