"""Every backend × family × transfer mode reproduces the official fixtures (through the backend interface), in
fp32 (OpenVINO pinned to f32: unpinned, it would compute in bf16 on a CPU with bf16 units)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from animcli.inference.backend_choice import make_backend
from animcli.models.base import AnimationModel, TransferOptions, motion_slice
from animcli.weights.loading import load_model

ATOL = 1e-4
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
BACKENDS = ["torch", "onnxruntime",
            pytest.param("openvino", marks=pytest.mark.skipif(not HAS_OPENVINO, reason="the openvino extra is absent"))]


def _fomm(reference: Path) -> tuple[AnimationModel, torch.Tensor, torch.Tensor, dict[str, np.ndarray]]:
    fixtures = reference / "fomm" / "fixtures"
    model = load_model(fixtures / "checkpoint.pth.tar", fixtures / "config.yaml", device="cpu")
    inputs, expected = np.load(fixtures / "inputs.npz"), np.load(fixtures / "animate.npz")
    cases = {"relative": expected["relative_noadapt_prediction"], "absolute": expected["absolute_prediction"],
             "relative-adapt": expected["relative_adapt_prediction"]}
    return model, torch.from_numpy(inputs["source"]), torch.from_numpy(inputs["driving"]), cases


def _lia(reference: Path) -> tuple[AnimationModel, torch.Tensor, torch.Tensor, dict[str, np.ndarray]]:
    fixtures = reference / "lia" / "fixtures"
    model = load_model(fixtures / "checkpoint.pt", fixtures / "config.json", device="cpu")
    data = np.load(fixtures / "lia_fixture.npz")
    # LIA works in [-1, 1]; the interface takes [0, 1] images and returns the clamped output mapped back.
    cases = {mode: (np.clip(data[f"out_{mode}"], -1, 1) + 1) / 2 for mode in ("relative", "absolute")}
    return model, torch.from_numpy((data["source"] + 1) / 2), torch.from_numpy((data["driving"] + 1) / 2), cases


def _monkeynet(reference: Path) -> tuple[AnimationModel, torch.Tensor, torch.Tensor, dict[str, np.ndarray]]:
    fixtures = reference / "monkeynet" / "fixtures"
    model = load_model(fixtures / "checkpoint.pth.tar", fixtures / "config.yaml", device="cpu")
    inputs = np.load(fixtures / "inputs.npz")
    cases = {mode: np.load(fixtures / f"transfer_{mode}.npz")["video_prediction"][0].transpose(1, 0, 2, 3)
             for mode in ("relative", "absolute")}
    source = torch.from_numpy(inputs["source"][:, :, 0])
    return model, source, torch.from_numpy(inputs["driving"][0].transpose(1, 0, 2, 3)), cases


FAMILIES = {"fomm": _fomm, "lia": _lia, "monkeynet": _monkeynet}
CASES = [(family, mode) for family, modes in
         {"fomm": ["relative", "absolute", "relative-adapt"], "lia": ["relative", "absolute"],
          "monkeynet": ["relative", "absolute"]}.items() for mode in modes]


@pytest.fixture(scope="module")
def loaded(reference_dir: Path) -> dict[str, tuple]:
    return {name: build(reference_dir) for name, build in FAMILIES.items()}


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize(("family", "mode"), CASES)
def test_backend_matches_official_fixture(loaded, family: str, mode: str, backend_name: str) -> None:
    model, source, driving, cases = loaded[family]
    backend = make_backend(model, backend_name, torch.device("cpu"), precision="fp32")
    size = source.shape[-1]
    options = TransferOptions(mode.split("-")[0], adapt_scale=mode.endswith("adapt")) if model.supports_adapt_scale \
        else TransferOptions(mode)
    with torch.inference_mode():
        state = backend.encode_source(source, size)
        # Batches of 1 and 3 frames: the exported graphs' frame axis is dynamic.
        motions = [backend.encode_driving(driving[:1], size), backend.encode_driving(driving[1:], size)]
        motion = {key: torch.cat([m[key] for m in motions]) for key in motions[0]}
        transferred = model.transfer(state, motion, motion_slice(motion, 0), options)
        predictions = [backend.generate(state, motion_slice(transferred, slice(0, 1)), size),
                       backend.generate(state, motion_slice(transferred, slice(1, None)), size)]
    prediction = torch.cat(predictions).numpy()
    assert prediction.shape == cases[mode].shape
    assert np.abs(prediction - cases[mode]).max() < ATOL
