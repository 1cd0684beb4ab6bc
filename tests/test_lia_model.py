"""LIA configs, checkpoints, discriminator, options and precision (parity itself: test_lia_parity.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_lia_parity as parity
import torch
from helpers import assert_close

from animcli.common.errors import ModelError
from animcli.inference.animator import Animator
from animcli.models import detect_family
from animcli.models.base import TransferOptions
from animcli.models.configs import resolve_config
from animcli.models.lia import Discriminator, LiaArchitecture, LiaModel
from animcli.models.lia.discriminator import minibatch_stddev
from animcli.weights.checkpoint_io import load_checkpoint_file
from animcli.weights.loading import load_model

# The fixture-loading fixtures live in test_lia_parity; pytest finds them as module attributes.
checkpoint = parity.checkpoint
expected = parity.expected
fixture_config = parity.fixture_config
fixtures_dir = parity.fixtures_dir
model = parity.model


OFFICIAL_GENERATOR_PARAMETERS = 45_116_317  # SPEC §4
OUTPUT_ATOL = 2e-4


def shapes(state_dict: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in state_dict.items()}


def listed_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    entries = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {name: tuple(int(d) for d in shape.split("x")) for name, shape in entries}


# -- configs and official layouts ----------------------------------------------------------------------
@pytest.mark.parametrize(("name", "mode"), [("lia-vox", "relative"), ("lia-taichi", "relative"),
                                            ("lia-ted", "absolute")])
def test_shipped_configs_build_the_official_256_layout(reference_dir: Path, name: str, mode: str) -> None:
    config = resolve_config(name)
    assert detect_family(config=config) == "lia"
    with torch.device("meta"):
        model = LiaModel(config)
        discriminator = Discriminator(model.arch)
    assert model.size == 256 and model.default_mode == mode
    assert shapes(model.gen.state_dict()) == listed_shapes(reference_dir / "lia" / "keys-256-gen.txt")
    assert shapes(discriminator.state_dict()) == listed_shapes(reference_dir / "lia" / "keys-256-dis.txt")
    assert sum(p.numel() for p in model.gen.parameters()) == OFFICIAL_GENERATOR_PARAMETERS


@pytest.mark.parametrize("size", [256, 512])
def test_config_inferred_from_state_dict_shapes(size: int) -> None:
    config = {**resolve_config("lia-vox"), "size": size}
    with torch.device("meta"):
        state_dict = LiaModel(config).gen.state_dict()
        inferred = LiaModel.infer_config({"gen": state_dict})
        rebuilt = LiaModel(inferred).gen.state_dict()
    assert inferred["size"] == size and inferred["default_mode"] == "relative"
    assert shapes(rebuilt) == shapes(state_dict)


def test_checkpoint_with_training_args_loads_and_gives_its_mode(fixtures_dir: Path, fixture_config: dict[str, Any],
                                                                expected: dict[str, np.ndarray]) -> None:
    trained = load_checkpoint_file(fixtures_dir / "checkpoint_gen_args.pt")
    assert isinstance(trained["args"], argparse.Namespace)
    inferred = LiaModel.infer_config(trained)
    for key in ("size", "style_dim", "motion_dim", "direction_rows"):
        assert inferred[key] == fixture_config[key], key
    assert inferred["channels"] == {int(r): c for r, c in fixture_config["channels"].items()}
    assert inferred["default_mode"] == "relative"  # trained on vox
    trained_model = LiaModel(inferred).eval()
    trained_model.load_checkpoint(trained)
    with torch.no_grad():
        wa = trained_model.encode_source((torch.from_numpy(expected["source"]) + 1) / 2).wa
    assert_close(wa, expected["wa"], 1e-5, "wa")
    ted_args = argparse.Namespace(**{**vars(trained["args"]), "dataset": "ted"})
    assert LiaModel.infer_config({**trained, "args": ted_args})["default_mode"] == "absolute"


def test_inferring_from_a_broken_generator_is_a_model_error(checkpoint: dict[str, Any]) -> None:
    broken = {name: tensor for name, tensor in checkpoint["gen"].items() if ".conv2." not in name}
    with pytest.raises(ModelError, match="official layout"):
        LiaModel.infer_config({"gen": broken})


def test_load_model_from_fixture_checkpoint(fixtures_dir: Path) -> None:
    loaded = load_model(fixtures_dir / "checkpoint.pt", device="cpu")
    assert isinstance(loaded, LiaModel) and loaded.size == 64


def test_claims(fixture_config: dict[str, Any], checkpoint: dict[str, Any]) -> None:
    assert LiaModel.claims_config(fixture_config)
    assert not LiaModel.claims_config({"model_params": {"kp_detector_params": {}}})
    assert LiaModel.claims_checkpoint(checkpoint)
    assert not LiaModel.claims_checkpoint({"generator": {}, "kp_detector": {}})
    assert not LiaModel.claims_checkpoint({"gen": {"conv.weight": torch.zeros(1)}})


@pytest.mark.parametrize(("change", "message"), [
    ({"size": 48}, "power of two"),
    ({"channels": {"4": 8, "8": 8}}, "no entry for resolution"),
    ({"direction_rows": 512}, "direction_rows"),
    ({"channel_multiplier": 2}, "channel_multiplier"),
    ({"default_mode": "sideways"}, "default_mode"),
    ({"style_dim": "wide"}, "malformed"),
])
def test_bad_configs_are_one_line_model_errors(fixture_config: dict[str, Any], change: dict[str, Any],
                                               message: str) -> None:
    with pytest.raises(ModelError, match=message):
        LiaModel({**fixture_config, **change})


def test_mismatched_checkpoint_is_a_model_error(checkpoint: dict[str, Any], fixture_config: dict[str, Any]) -> None:
    wider = LiaModel({**fixture_config, "style_dim": 32, "direction_rows": 32})
    # A count per kind of problem and one example, as for every family (not torch's list of every key).
    with pytest.raises(ModelError, match=r"does not fit the config: \d+ shape mismatch \(e\.g\. [\w.]+\)$") as info:
        wider.load_checkpoint(checkpoint)
    assert "\n" not in str(info.value)
    with pytest.raises(ModelError, match="no LIA generator"):
        wider.load_checkpoint({"generator": {}})


# -- discriminator ---------------------------------------------------------------------------------------
def test_discriminator_loads_official_state_dict(fixture_config: dict[str, Any], checkpoint: dict[str, Any]) -> None:
    discriminator = Discriminator(LiaArchitecture.from_config(fixture_config))
    discriminator.load_state_dict(checkpoint["dis"], strict=True)
    assert sum(p.numel() for p in discriminator.parameters()) == 92_081
    with torch.no_grad():
        for batch in (1, 3, 8):
            assert discriminator(torch.randn(batch, 3, 64, 64)).shape == (batch, 1)
        with pytest.raises(RuntimeError):
            discriminator(torch.randn(6, 3, 64, 64))  # 6 is not divisible by the group of 4, as officially


def test_minibatch_stddev_groups_samples_by_batch_index_modulo() -> None:
    x = torch.randn(8, 5, 4, 4)
    out = minibatch_stddev(x)
    sets = 8 // 4
    for member_set in range(sets):
        members = x[member_set::sets]
        spread = torch.sqrt(members.var(0, unbiased=False) + 1e-8).mean()
        assert torch.allclose(out[member_set::sets, 5], spread.expand(4, 4, 4))
    assert torch.equal(out[:, :5], x)


# -- options and interface ------------------------------------------------------------------------------
def test_options(model: LiaModel) -> None:
    with pytest.raises(ModelError, match="--adapt-scale"):
        model.validate_options(TransferOptions(adapt_scale=True))
    assert model.validate_options(TransferOptions(adapt_scale=False)).adapt_scale is False
    assert model.reconstruction_options().mode == "absolute"
    assert model.keypoints({"alpha": torch.zeros(2, 20)}) is None
    with pytest.raises(ModelError, match="--adapt-scale"):
        Animator(model, TransferOptions(adapt_scale=True))


def test_pose_distance_finds_the_source_pose(model: LiaModel, expected: dict[str, np.ndarray]) -> None:
    source = (torch.from_numpy(expected["source"]) + 1) / 2
    driving = (torch.from_numpy(expected["driving"]) + 1) / 2
    with torch.no_grad():
        source_motion = model.source_motion(model.encode_source(source))
        distances = model.pose_distance(source_motion, model.encode_driving(torch.cat([driving, source])))
    assert distances.shape == (5,)
    assert int(distances.argmin()) == 4 and float(distances[4]) < 1e-5


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_animator_streams_batches_matching_the_official_frames(model: LiaModel, expected: dict[str, np.ndarray],
                                                               mode: str) -> None:
    animator = Animator(model, TransferOptions(mode=mode), batch_size=3)
    batches = list(animator.animate(expected["source_uint8"], iter(expected["driving_uint8"])))
    assert [len(b.prediction) for b in batches] == [3, 1]
    prediction = np.concatenate([b.prediction for b in batches])
    # Inputs from uint8 (/255 in float32): the official source path divides in float64, a 1-ulp difference.
    official = (np.clip(expected[f"out_{mode}"], -1, 1) + 1) / 2
    assert_close(prediction, official.transpose(0, 2, 3, 1), OUTPUT_ATOL, f"animated {mode}")


def test_reduced_precision_autocast_keeps_dictionary_and_sampling_in_float32(
        model: LiaModel, expected: dict[str, np.ndarray]) -> None:
    """bfloat16 autocast on CPU runs the code path fp16 autocast runs on CUDA."""
    source = (torch.from_numpy(expected["source"]) + 1) / 2
    driving = (torch.from_numpy(expected["driving"]) + 1) / 2
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        state = model.encode_source(source)
        motion = model.encode_driving(driving)
        assert model.gen.dec.direction.basis().dtype == torch.float32
        transferred = model.transfer(state, motion, {"alpha": motion["alpha"][:1]}, TransferOptions("relative"))
        frames = model.generate(state, transferred)
    assert state.feats[0].dtype == torch.bfloat16  # autocast really was on
    assert transferred["latent"].dtype == torch.float32
    assert frames.dtype == torch.float32 and float(frames.min()) >= 0 and float(frames.max()) <= 1
    # bfloat16 keeps 8 mantissa bits: a few edge pixels move, the frame as a whole must not.
    official = (np.clip(expected["out_relative"], -1, 1) + 1) / 2
    assert float(np.abs(frames.numpy() - official).mean()) < 0.01
