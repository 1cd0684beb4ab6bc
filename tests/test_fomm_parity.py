"""FOMM against the official code's outputs on the shared fixture checkpoint (fixtures/README.md tolerances)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_close, assert_not_close

from animcli.models.base import TransferOptions, motion_slice
from animcli.models.blocks import AntiAliasInterpolation2d, kp2gaussian, make_coordinate_grid
from animcli.models.configs import resolve_config
from animcli.models.fomm import FommModel, build_discriminator
from animcli.models.fomm.generator import deform, resize_to
from animcli.models.keypoint_transfer import hull_scale
from animcli.weights.checkpoint_io import load_checkpoint_file

KP_ATOL, IMAGE_ATOL, DISC_ATOL = 1e-5, 1e-4, 1e-3
MODES = {
    "relative_adapt": TransferOptions("relative", True),
    "relative_noadapt": TransferOptions("relative", False),
    "absolute": TransferOptions("absolute", False),
}


@pytest.fixture(scope="module")
def fixtures(reference_dir: Path) -> Path:
    return reference_dir / "fomm" / "fixtures"


def _npz(fixtures: Path, name: str) -> dict[str, np.ndarray]:
    return dict(np.load(fixtures / f"{name}.npz"))


def _model(fixtures: Path, align_corners: bool = True) -> FommModel:
    model = FommModel(resolve_config(fixtures / "config.yaml"), align_corners=align_corners).eval()
    model.load_checkpoint(load_checkpoint_file(fixtures / "checkpoint.pth.tar"))
    return model


@pytest.fixture(scope="module")
def model(fixtures: Path) -> FommModel:
    return _model(fixtures)


@pytest.fixture(scope="module")
def inputs(fixtures: Path) -> tuple[torch.Tensor, torch.Tensor]:
    data = _npz(fixtures, "inputs")
    return torch.from_numpy(data["source"]), torch.from_numpy(data["driving"])


def _per_frame_kp(model: FommModel, frames: torch.Tensor) -> dict[str, torch.Tensor]:
    kps = [model.kp_detector(frame[None]) for frame in frames]
    return {key: torch.cat([kp[key] for kp in kps]) for key in kps[0]}


@torch.no_grad()
def test_keypoints(model: FommModel, inputs, fixtures: Path) -> None:
    expected = _npz(fixtures, "kp")
    source, driving = inputs
    kp_source = model.kp_detector(source)
    kp_driving = _per_frame_kp(model, driving)
    assert_close(kp_source["value"], expected["source_value"], KP_ATOL, "source_value")
    assert_close(kp_source["jacobian"], expected["source_jacobian"], KP_ATOL, "source_jacobian")
    assert_close(kp_driving["value"], expected["driving_value"], KP_ATOL, "driving_value")
    assert_close(kp_driving["jacobian"], expected["driving_jacobian"], KP_ATOL, "driving_jacobian")
    # Batched detection (what animate does) gives the same keypoints as batch-1 runs.
    assert_close(model.kp_detector(driving)["value"], expected["driving_value"], KP_ATOL, "batched value")


@torch.no_grad()
def test_dense_motion(model: FommModel, inputs, fixtures: Path) -> None:
    expected = _npz(fixtures, "dense_motion")
    kp = _npz(fixtures, "kp")
    index = int(expected["pair_driving_index"])
    source, _ = inputs
    kp_source = {"value": torch.from_numpy(kp["source_value"]), "jacobian": torch.from_numpy(kp["source_jacobian"])}
    kp_driving = {"value": torch.from_numpy(kp["driving_value"][index:index + 1]),
                  "jacobian": torch.from_numpy(kp["driving_jacobian"][index:index + 1])}
    network = model.generator.dense_motion_network
    small = network.downsample(source)
    shape = tuple(small.shape[2:])
    assert_close(small, expected["source_downsampled"], IMAGE_ATOL, "source_downsampled")
    assert_close(network.heatmap_representation(shape, kp_driving, kp_source), expected["heatmap_representation"],
                 IMAGE_ATOL, "heatmap_representation")
    assert_close(network.sparse_motions(shape, kp_driving, kp_source), expected["sparse_motion"], IMAGE_ATOL,
                 "sparse_motion")
    out = network(source, kp_driving, kp_source)
    for name in ("sparse_deformed", "mask", "deformation", "occlusion_map"):
        assert_close(out[name], expected[name], IMAGE_ATOL, name)


@torch.no_grad()
def test_generator_reconstruction(model: FommModel, inputs, fixtures: Path) -> None:
    expected = _npz(fixtures, "generator")
    source, driving = inputs
    kp_source = model.kp_detector(source)
    outputs = [model.generator(source, model.kp_detector(frame[None]), kp_source) for frame in driving]
    assert_close(torch.cat([o["prediction"] for o in outputs]), expected["prediction"], IMAGE_ATOL, "prediction")
    assert_close(torch.cat([o["occlusion_map"] for o in outputs]), expected["occlusion_map"], IMAGE_ATOL, "occlusion")
    assert_close(torch.cat([o["mask"] for o in outputs]), expected["mask"], IMAGE_ATOL, "mask")
    assert_close(outputs[1]["deformed"], expected["deformed_pair"], IMAGE_ATOL, "deformed_pair")


@pytest.mark.parametrize("mode", list(MODES))
@torch.no_grad()
def test_animate_modes(model: FommModel, inputs, fixtures: Path, mode: str) -> None:
    expected = _npz(fixtures, "animate")
    source, driving = inputs
    state = model.encode_source(source)
    motion = model.encode_driving(driving)
    transferred = model.transfer(state, motion, motion_slice(motion, 0), MODES[mode])
    assert_close(transferred["value"], expected[f"{mode}_kp_norm_value"], KP_ATOL, "kp_norm_value")
    assert_close(transferred["jacobian"], expected[f"{mode}_kp_norm_jacobian"], KP_ATOL, "kp_norm_jacobian")
    assert_close(model.generate(state, transferred), expected[f"{mode}_prediction"], IMAGE_ATOL, "prediction")


@torch.no_grad()
def test_adapt_movement_scale(model: FommModel, inputs, fixtures: Path) -> None:
    expected = float(_npz(fixtures, "animate")["adapt_movement_scale"])
    source, driving = inputs
    scale = hull_scale(model.kp_detector(source)["value"], model.kp_detector(driving[:1])["value"])
    assert scale == pytest.approx(expected, rel=1e-5)


@torch.no_grad()
def test_default_is_trained_semantics_not_head(model: FommModel, inputs, fixtures: Path) -> None:
    head = _npz(fixtures, "head_semantics")
    source, driving = inputs
    state = model.encode_source(source)
    motion = model.encode_driving(driving)
    options = MODES["relative_adapt"]
    prediction = model.generate(state, model.transfer(state, motion, motion_slice(motion, 0), options))
    assert_not_close(prediction, head["relative_adapt_prediction"], IMAGE_ATOL, "default vs head")
    # The explicit compatibility mode reproduces the HEAD-on-modern-torch outputs.
    head_model = _model(fixtures, align_corners=False)
    state = head_model.encode_source(source)
    prediction = head_model.generate(state, head_model.transfer(state, motion, motion_slice(motion, 0), options))
    assert_close(prediction, head["relative_adapt_prediction"], IMAGE_ATOL, "head mode")
    dense = head_model.generator.dense_motion_network(source, motion_slice(motion, 1), state.kp)
    assert_close(dense["sparse_deformed"], head["dense_motion_sparse_deformed"], IMAGE_ATOL, "head sparse_deformed")
    assert_close(dense["deformation"], head["dense_motion_deformation"], IMAGE_ATOL, "head deformation")
    assert_close(dense["occlusion_map"], head["dense_motion_occlusion_map"], IMAGE_ATOL, "head occlusion")


@torch.no_grad()
def test_discriminator(fixtures: Path, inputs) -> None:
    expected = _npz(fixtures, "discriminator")
    checkpoint = load_checkpoint_file(fixtures / "checkpoint.pth.tar")
    discriminator = build_discriminator(resolve_config(fixtures / "config.yaml")).eval()
    discriminator.load_state_dict(checkpoint["discriminator"], strict=True)
    out = discriminator({"prediction_1": inputs[0]})
    for i, feature_map in enumerate(out["feature_maps_1"]):
        assert_close(feature_map, expected[f"input_source_feature_map_{i}"], DISC_ATOL, f"feature_map_{i}")
    assert_close(out["prediction_map_1"], expected["input_source_prediction_map"], DISC_ATOL, "prediction_map")


def test_functional(fixtures: Path) -> None:
    expected = _npz(fixtures, "functional")
    like = torch.zeros(1)
    assert_close(make_coordinate_grid((5, 7), like), expected["coordinate_grid_5x7"], 1e-6, "grid")
    kp_value = torch.from_numpy(expected["kp2gaussian_kp_value"])
    assert_close(kp2gaussian(kp_value, (9, 11), 0.01), expected["kp2gaussian_9x11_var0.01"], 1e-6, "kp2gaussian")
    image = torch.from_numpy(expected["antialias_input"])
    for scale in ("0.5", "0.25", "0.125"):
        down = AntiAliasInterpolation2d(3, float(scale))
        assert_close(down.weight[0, 0], expected[f"antialias_kernel_{scale}"], 1e-6, f"kernel {scale}")
        assert_close(down(image), expected[f"antialias_out_{scale}"], 1e-5, f"antialias {scale}")
    feature = torch.from_numpy(expected["deform_feature_in"])
    deformation = torch.from_numpy(expected["deform_deformation_32"])
    assert_close(deform(feature, deformation), expected["deform_out_16"], IMAGE_ATOL, "deform")
    occlusion = torch.from_numpy(expected["occlusion_in_32"])
    assert_close(resize_to(occlusion, (16, 16)), expected["occlusion_resized_16"], 1e-6, "occlusion resize")


def test_checkpoint_that_does_not_fit_the_config_is_refused(fixtures: Path) -> None:
    from animcli.common.errors import ModelError

    config = resolve_config(fixtures / "config.yaml")
    config["model_params"]["kp_detector_params"]["block_expansion"] = 16
    with pytest.raises(ModelError, match="does not fit the config"):
        FommModel(config).load_checkpoint(load_checkpoint_file(fixtures / "checkpoint.pth.tar"))


@pytest.mark.parametrize("part", ["generator", "kp_detector", "discriminator"])
def test_vox_256_state_dict_layout_matches_official(reference_dir: Path, part: str) -> None:
    config = resolve_config("fomm-vox-256")
    model = FommModel(config)
    module = {"generator": model.generator, "kp_detector": model.kp_detector,
              "discriminator": build_discriminator(config)}[part]
    official = {}
    for line in (reference_dir / "fomm" / f"keys-vox-256-{part}.txt").read_text().splitlines():
        name, _, shape = line.partition(" ")
        official[name] = [int(v) for v in shape.strip("[] ").split(",") if v.strip()]
    ours = {name: list(tensor.shape) for name, tensor in module.state_dict().items()}
    assert ours == official


def test_default_transfer_follows_the_config(fixtures: Path) -> None:
    config = resolve_config(fixtures / "config.yaml")
    assert FommModel(config).default_mode == "relative"
    config["animate_params"]["normalization_params"]["use_relative_movement"] = False
    assert FommModel(config).default_mode == "absolute"
