"""TPSMM against the official code's outputs on the shared fixture checkpoint (tpsmm_fixture.npz; tolerances of
fixtures/README.md): keypoints and their ResNet, BG predictor, AVD network, TPS fit, dense motion, inpainting,
and the three animation modes of demo.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_close, assert_not_close

from animcli.inference.backend_choice import make_backend
from animcli.models.base import TransferOptions, motion_slice
from animcli.models.configs import resolve_config
from animcli.models.keypoint_transfer import hull_area, hull_scale
from animcli.models.tpsmm import TpsmmModel, build_networks, config_for_checkpoint
from animcli.models.tpsmm.tps import KeypointTps, system_matrix
from animcli.weights.checkpoint_io import load_checkpoint_file

KP_ATOL, DENSE_ATOL, INPAINTING_ATOL, IMAGE_ATOL = 1e-5, 1e-4, 5e-4, 2e-4
#: animcli's mode names for demo.py's
MODES = {"standard": "absolute", "relative": "relative", "avd": "avd"}


@pytest.fixture(scope="module")
def fixtures(reference_dir: Path) -> Path:
    return reference_dir / "tpsmm" / "fixtures"


@pytest.fixture(scope="module")
def expected(fixtures: Path) -> dict[str, np.ndarray]:
    return dict(np.load(fixtures / "tpsmm_fixture.npz"))


@pytest.fixture(scope="module")
def checkpoint(fixtures: Path) -> dict:
    return load_checkpoint_file(fixtures / "checkpoint.pth.tar")


@pytest.fixture(scope="module")
def model(fixtures: Path, checkpoint: dict, single_thread: None) -> TpsmmModel:
    return TpsmmModel.from_checkpoint(resolve_config(fixtures / "config.yaml"), checkpoint).eval()


@pytest.fixture(scope="module")
def inputs(fixtures: Path) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.load(fixtures / "inputs.npz")
    return torch.from_numpy(data["source"]), torch.from_numpy(data["driving"])


@pytest.fixture(scope="module")
def bg_predictor(fixtures: Path, checkpoint: dict) -> torch.nn.Module:
    config = config_for_checkpoint(resolve_config(fixtures / "config.yaml"), checkpoint)
    predictor = build_networks(config)["bg_predictor"]
    predictor.load_state_dict(checkpoint["bg_predictor"])
    return predictor.eval()


@torch.no_grad()
def test_keypoints_and_their_resnet(model: TpsmmModel, inputs, expected: dict[str, np.ndarray]) -> None:
    source, driving = inputs
    resnet = model.kp_detector.fg_encoder
    stem = resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(source))))
    assert_close(stem, expected["kp_source_resnet_stem"], KP_ATOL, "stem")
    out = stem
    for index, stage in enumerate(resnet.stages(), start=1):
        out = stage(out)
        assert_close(out, expected[f"kp_source_resnet_layer{index}"], KP_ATOL, f"layer{index}")
    assert_close(resnet(source), expected["kp_source_fc_out"], KP_ATOL, "fc")
    assert_close(model.encode_driving(source)["value"], expected["kp_source"], KP_ATOL, "kp_source")
    assert_close(model.encode_driving(driving)["value"], expected["kp_driving"], KP_ATOL, "kp_driving")


@torch.no_grad()
def test_background_motion_predictor(bg_predictor: torch.nn.Module, inputs, expected: dict[str, np.ndarray]) -> None:
    source, driving = inputs
    sources = source.expand_as(driving)
    assert_close(bg_predictor(sources, driving), expected["bg_param"], KP_ATOL, "bg_param")
    assert_close(bg_predictor(driving, sources), expected["bg_param_reverse"], KP_ATOL, "bg_param_reverse")


@torch.no_grad()
def test_avd_network_puts_the_driving_pose_on_the_source_identity(model: TpsmmModel, expected) -> None:
    kp_source, kp_driving = torch.from_numpy(expected["kp_source"]), torch.from_numpy(expected["kp_driving"])
    assert model.avd_network is not None
    identity, pose = model.avd_network.embeddings(kp_source, kp_driving)
    assert_close(identity, expected["avd_id_emb"], KP_ATOL, "id embedding")
    assert_close(pose, expected["avd_pose_emb"], KP_ATOL, "pose embedding")
    rec = model.avd_network({"fg_kp": kp_source}, {"fg_kp": kp_driving})["fg_kp"]
    assert_close(rec, expected["avd_kp"], KP_ATOL, "avd kp")


def pair(expected: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    index = int(expected["pair_driving_index"])
    return torch.from_numpy(expected["kp_source"]), torch.from_numpy(expected["kp_driving"][index:index + 1])


def test_tps_fit_of_the_pair(expected: dict[str, np.ndarray]) -> None:
    kp_source, kp_driving = pair(expected)
    tps = KeypointTps(kp_driving.view(1, 10, 5, 2), kp_source.view(1, 10, 5, 2))
    assert_close(system_matrix(kp_driving.view(1, 10, 5, 2)), expected["tps_L"], KP_ATOL, "L")
    assert_close(tps.theta, expected["tps_theta"], KP_ATOL, "theta")
    assert_close(tps.control_points, expected["tps_control_points"], 0, "control points")
    assert_close(tps.control_params, expected["tps_control_params"], KP_ATOL, "control params")
    assert_close(tps.transform_frame(24, 24), expected["tps_driving_to_source"], KP_ATOL, "driving to source")


@pytest.mark.parametrize("background", [False, True])
@torch.no_grad()
def test_dense_motion_and_inpainting(model: TpsmmModel, bg_predictor: torch.nn.Module, inputs,
                                     expected: dict[str, np.ndarray], background: bool) -> None:
    source, driving = inputs
    kp_source, kp_driving = pair(expected)
    index = int(expected["pair_driving_index"])
    bg_param = bg_predictor(source, driving[index:index + 1]) if background else None
    dense = model.dense_motion_network(source, {"value": kp_driving}, {"value": kp_source}, bg_param)
    generated = model.inpainting_network(source, dense, warped_maps=True)
    prefix = "dense_bg_" if background else "dense_"
    if background:
        assert_close(bg_param, expected["dense_bg_param"], KP_ATOL, "bg_param")
        assert_close(generated["prediction"], expected["dense_bg_prediction"], IMAGE_ATOL, "bg prediction")
    else:
        assert_close(model.dense_motion_network.downsample(source), expected["dense_source_down"], 1e-6, "down")
        assert_close(dense["deformed_source"], expected["dense_deformed_source"], DENSE_ATOL, "deformed source")
        assert_close(generated["deformed"], expected["inp_deformed"], DENSE_ATOL, "deformed")
        for level, warped in enumerate(generated["warped_encoder_maps"]):
            assert_close(warped, expected[f"inp_warped_encoder_map{level}"], INPAINTING_ATOL, f"warped map {level}")
        assert_close(generated["prediction"], expected["anim_standard_prediction"][index:index + 1], IMAGE_ATOL,
                     "prediction")
    for name in ("contribution_maps", "deformation"):
        assert_close(dense[name], expected[prefix + name], DENSE_ATOL, prefix + name)
    for level, occlusion in enumerate(dense["occlusion_map"]):
        assert_close(occlusion, expected[f"{prefix}occlusion_map{level}"], DENSE_ATOL, f"occlusion {level}")


@torch.no_grad()
def test_inpainting_encoder(model: TpsmmModel, inputs, expected: dict[str, np.ndarray]) -> None:
    maps = model.inpainting_network.encode(inputs[0])
    for name, feature in zip(["inp_first", "inp_down0", "inp_down1", "inp_down2"], maps, strict=True):
        assert_close(feature, expected[name], INPAINTING_ATOL, name)


@torch.no_grad()
def test_relative_mode_always_scales_by_the_hull_ratio(model: TpsmmModel, expected: dict[str, np.ndarray]) -> None:
    kp_source, kp_driving = torch.from_numpy(expected["kp_source"]), torch.from_numpy(expected["kp_driving"])
    assert hull_area(kp_source[0]) == pytest.approx(float(expected["relative_source_hull_area"]), rel=1e-6)
    assert hull_area(kp_driving[0]) == pytest.approx(float(expected["relative_driving_initial_hull_area"]), rel=1e-6)
    assert hull_scale(kp_source, kp_driving[:1]) == pytest.approx(float(expected["relative_adapt_movement_scale"]),
                                                                  rel=1e-6)


@pytest.mark.parametrize("official", list(MODES))
@torch.no_grad()
def test_animation_modes(model: TpsmmModel, inputs, expected: dict[str, np.ndarray], official: str) -> None:
    source, driving = inputs
    options = model.validate_options(TransferOptions(mode=MODES[official]))
    state = model.encode_source(source)
    motion = model.encode_driving(driving)
    transferred = model.transfer(state, motion, motion_slice(motion, 0), options)
    assert_close(transferred["value"], expected[f"anim_{official}_kp_norm"], KP_ATOL, "kp_norm")
    prediction = model.generate(state, transferred)
    assert_close(prediction, expected[f"anim_{official}_prediction"], IMAGE_ATOL, "prediction")
    if official == "relative":  # the hull scale is part of the official relative mode
        unscaled = model.transfer(state, motion, motion_slice(motion, 0), TransferOptions("relative", False))
        assert_not_close(unscaled["value"], expected["anim_relative_kp_norm"], KP_ATOL)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) in [0, 1] → (T, H, W, 3) uint8 as demo.py's img_as_ubyte (float32 product, half to even)."""
    return np.rint(frames.permute(0, 2, 3, 1).numpy() * np.float32(255)).astype(np.uint8)


def assert_frames_match(frames: np.ndarray, official: np.ndarray, name: str) -> None:
    """The fixture's uint8 tolerance: at most 1 level anywhere and at least 99.9 % of the values equal."""
    difference = np.abs(frames.astype(np.int16) - official.astype(np.int16))
    assert difference.max() <= 1 and (difference == 0).mean() >= 0.999, \
        f"{name}: max {difference.max()} levels, {(difference == 0).mean():.4%} equal"


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
@pytest.mark.parametrize("official", list(MODES))
@torch.no_grad()
def test_official_frames_on_both_backends(model: TpsmmModel, inputs, expected: dict[str, np.ndarray], backend: str,
                                          official: str) -> None:
    """demo.py's frames from its float inputs, through each backend's graphs (the onnxruntime renderer solves
    the TPS systems in its exported graph) and animcli's transfer."""
    engine = make_backend(model, backend, torch.device("cpu"), "fp32", threads=1)
    source, driving = inputs
    size = source.shape[-1]
    state = engine.encode_source(source, size)
    motion = engine.encode_driving(driving, size)
    transferred = model.transfer(state, motion, motion_slice(motion, 0), TransferOptions(MODES[official]))
    prediction = engine.generate(state, transferred, size)
    assert_close(prediction, expected[f"anim_{official}_prediction"], IMAGE_ATOL, "prediction")
    assert_frames_match(to_uint8(prediction), expected[f"anim_{official}_uint8"], official)


def test_published_vox_256_state_dict_layout(reference_dir: Path) -> None:
    """Every network of the shipped tpsmm-vox-256 config against the published file's 450 entries: names in
    state-dict order, shapes and integer dtypes (built on the meta device: no memory for 87.7 M parameters)."""
    published = {}
    for line in (reference_dir / "tpsmm" / "keys-tpsmm-vox-256.txt").read_text().splitlines():
        name, shape, *dtype = line.split()
        published[name] = (tuple(int(n) for n in shape.split("x")) if shape != "()" else (), dtype[0] if dtype else
                           "float32")
    with torch.device("meta"):
        networks = build_networks(resolve_config("tpsmm-vox-256"))
    ours = {f"{net}.{key}": (tuple(value.shape), str(value.dtype).removeprefix("torch."))
            for net, module in networks.items() for key, value in module.state_dict().items()}
    assert sorted(ours) == sorted(published)
    for net in networks:
        assert [k for k in ours if k.startswith(net + ".")] == [k for k in published if k.startswith(net + ".")]
    assert ours == published
    parameters = sum(p.numel() for module in networks.values() for p in module.parameters())
    assert parameters == 87_679_142


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
@torch.no_grad()
def test_reconstruction_moves_the_background_with_the_bg_predictor(model: TpsmmModel, inputs,
                                                                   expected: dict[str, np.ndarray],
                                                                   backend: str) -> None:
    """reconstruction.py: source = frame 0, every frame's raw keypoints, and the BG predictor's affine (which
    animation leaves out); L1 per frame as it prints."""
    engine = make_backend(model, backend, torch.device("cpu"), "fp32", threads=1)
    _, driving = inputs
    size = driving.shape[-1]
    state = engine.encode_source(driving[:1], size)
    motion = engine.encode_driving(driving, size)
    transferred = model.transfer(state, motion, motion_slice(motion, 0), model.reconstruction_options())
    assert_close(transferred["bg_param"], expected["recon_bg_param"], KP_ATOL, "bg_param")
    prediction = engine.generate(state, transferred, size)
    assert_close(prediction, expected["recon_prediction"], IMAGE_ATOL, "prediction")
    l1 = (prediction - driving).abs().mean(dim=(1, 2, 3)).double()
    assert_close(l1, expected["recon_l1_per_frame"], 1e-5, "L1 per frame")
    assert float(l1.mean()) == pytest.approx(float(expected["recon_printed_loss"]), abs=1e-5)
    animated = model.transfer(state, motion, motion_slice(motion, 0), TransferOptions("absolute"))
    assert torch.equal(animated["bg_param"], torch.eye(3).expand(len(driving), 3, 3))
