"""Assertions shared by the tests."""

from __future__ import annotations

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
