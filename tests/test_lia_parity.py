"""LIA end to end against the official code's arrays (lia_fixture.npz), through the AnimationModel interface.

The fixture-loading fixtures here are shared by the other LIA test modules (imported there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_close

from animcli.models.base import TransferOptions
from animcli.models.lia import LiaModel, LiaSourceState, to_signed_range
from animcli.weights.checkpoint_io import load_checkpoint_file
from animcli.workflows.output import stretch_clip_uint8

LATENT_ATOL = 1e-5
FLOW_ATOL = 1e-4
OUTPUT_ATOL = 2e-4
#: truncation after the clip-wide stretch may flip a grey level (fixtures README)
MIN_EXACT_UINT8_FRACTION = 0.995


@pytest.fixture(scope="module")
def fixtures_dir(reference_dir: Path) -> Path:
    return reference_dir / "lia" / "fixtures"


@pytest.fixture(scope="module")
def expected(fixtures_dir: Path) -> dict[str, np.ndarray]:
    return dict(np.load(fixtures_dir / "lia_fixture.npz"))


@pytest.fixture(scope="module")
def fixture_config(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads((fixtures_dir / "config.json").read_text())


@pytest.fixture(scope="module")
def checkpoint(fixtures_dir: Path) -> dict[str, Any]:
    return load_checkpoint_file(fixtures_dir / "checkpoint.pt")


@pytest.fixture(scope="module")
def model(fixture_config: dict[str, Any], checkpoint: dict[str, Any]) -> LiaModel:
    model = LiaModel(fixture_config).eval()
    model.load_checkpoint(checkpoint)
    return model


def images01(expected: dict[str, np.ndarray], name: str) -> torch.Tensor:
    """The fixture's [-1, 1] model inputs as the [0, 1] images the interface takes."""
    return (torch.from_numpy(expected[name]) + 1) / 2


@pytest.fixture(scope="module")
def source_state(model: LiaModel, expected: dict[str, np.ndarray]) -> LiaSourceState:
    with torch.no_grad():
        return model.encode_source(images01(expected, "source"))


@pytest.fixture(scope="module")
def alpha_driving(model: LiaModel, expected: dict[str, np.ndarray]) -> torch.Tensor:
    with torch.no_grad():
        return model.encode_driving(images01(expected, "driving"))["alpha"]


def test_uint8_images_map_to_the_demo_inputs(expected: dict[str, np.ndarray]) -> None:
    for name in ("source", "driving"):
        frames = torch.from_numpy(expected[f"{name}_uint8"]).reshape(-1, *expected[f"{name}_uint8"].shape[-3:])
        images = frames.permute(0, 3, 1, 2).float() / 255
        assert_close(to_signed_range(images), expected[name], 1e-6, name)


def test_source_encoding(source_state: LiaSourceState, expected: dict[str, np.ndarray]) -> None:
    assert_close(source_state.wa, expected["wa"], LATENT_ATOL, "wa")
    assert len(source_state.feats) == 4
    for level, feat in enumerate(source_state.feats):
        assert_close(feat, expected[f"feat_{level}"], LATENT_ATOL, f"feat_{level}")
    assert_close(source_state.alpha, expected["alpha_source"], LATENT_ATOL, "alpha_source")


def test_driving_motion_codes(alpha_driving: torch.Tensor, expected: dict[str, np.ndarray]) -> None:
    assert_close(alpha_driving, expected["alpha_driving"], LATENT_ATOL, "alpha_driving")
    assert_close(alpha_driving[:1], expected["h_start"], LATENT_ATOL, "h_start")


def test_motion_dictionary(model: LiaModel, alpha_driving: torch.Tensor, expected: dict[str, np.ndarray]) -> None:
    direction = model.gen.dec.direction
    assert_close(direction.weight, expected["direction_weight"], 0.0, "direction weight")
    with torch.no_grad():
        basis = direction.basis()
        for column in range(basis.shape[1]):
            assert_close(basis[:, column], expected["direction_Q"][:, column], LATENT_ATOL, f"Q column {column}")
        assert_close(direction(alpha_driving), expected["direction_of_alpha_driving"], LATENT_ATOL, "Dir(alpha)")


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_latents_and_frames(model: LiaModel, source_state: LiaSourceState, alpha_driving: torch.Tensor,
                            expected: dict[str, np.ndarray], mode: str) -> None:
    driving = {"alpha": alpha_driving}
    with torch.no_grad():
        motion = model.transfer(source_state, driving, {"alpha": alpha_driving[:1]}, TransferOptions(mode=mode))
        signed = model.generate_signed(source_state, motion)
        frames = model.generate(source_state, motion)
    assert_close(motion["latent"], expected[f"latent_{mode}"], LATENT_ATOL, f"latent_{mode}")
    assert_close(signed, expected[f"out_{mode}"], OUTPUT_ATOL, f"out_{mode}")
    assert_close(frames, (np.clip(expected[f"out_{mode}"], -1, 1) + 1) / 2, OUTPUT_ATOL, f"frames_{mode}")


def test_flow_logits_of_relative_frame(model: LiaModel, source_state: LiaSourceState, alpha_driving: torch.Tensor,
                                       expected: dict[str, np.ndarray]) -> None:
    with torch.no_grad():
        motion = model.transfer(source_state, {"alpha": alpha_driving[1:2]}, {"alpha": alpha_driving[:1]},
                                TransferOptions(mode="relative"))
        _, flow_logits = model.gen.dec.render(motion["latent"], source_state.feats)
    for level, logits in enumerate(flow_logits):
        name = f"flow_logits_relative_frame1_level{level}"
        assert_close(logits, expected[name], FLOW_ATOL, name)


def test_source_without_motion(model: LiaModel, source_state: LiaSourceState,
                               expected: dict[str, np.ndarray]) -> None:
    with torch.no_grad():
        out = model.generate_signed(source_state, {"latent": model.gen.dec.latent(source_state.wa)})
    assert_close(out, expected["out_source_no_motion"], OUTPUT_ATOL, "out_source_no_motion")


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_official_one_call_generator_per_frame(model: LiaModel, expected: dict[str, np.ndarray],
                                               mode: str) -> None:
    """The official demo's loop: the whole generator per frame, source re-encoded every time."""
    source, driving = torch.from_numpy(expected["source"]), torch.from_numpy(expected["driving"])
    alpha_start = torch.from_numpy(expected["h_start"]) if mode == "relative" else None
    with torch.no_grad():
        frames = torch.cat([model.gen(source, driving[t:t + 1], alpha_start) for t in range(len(driving))])
    assert_close(frames, expected[f"out_{mode}"], OUTPUT_ATOL, f"out_{mode}")


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_demo_normalization_reproduces_written_video(model: LiaModel, source_state: LiaSourceState,
                                                     alpha_driving: torch.Tensor, expected: dict[str, np.ndarray],
                                                     mode: str) -> None:
    with torch.no_grad():
        motion = model.transfer(source_state, {"alpha": alpha_driving}, {"alpha": alpha_driving[:1]},
                                TransferOptions(mode=mode))
        frames = model.generate(source_state, motion)  # the per-frame [0, 1] output animate streams
    video = stretch_clip_uint8(frames.permute(0, 2, 3, 1).numpy())
    reference = expected[f"video_uint8_{mode}"]
    difference = np.abs(video.astype(np.int16) - reference.astype(np.int16))
    assert difference.max() <= 1
    assert (difference == 0).mean() >= MIN_EXACT_UINT8_FRACTION
