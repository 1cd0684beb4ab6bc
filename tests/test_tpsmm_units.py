"""TPSMM building blocks against the official code's unit outputs (tpsmm_units.npz; fixtures/README.md
tolerances): coordinate grid, heatmaps, anti-alias pyramid, keypoint TPS fit and warp (and its exact
ONNX-friendly solver), the random TPS of the equivariance loss, dropout softmax, feature warping and the
single-occlusion-map (multi_mask False) networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_close, assert_not_close

from animcli.models.blocks import AntiAliasInterpolation2d, kp2gaussian, make_coordinate_grid
from animcli.models.tpsmm.dense_motion import DenseMotionNetwork, dropout_softmax
from animcli.models.tpsmm.inpainting import InpaintingNetwork, occlude, warp
from animcli.models.tpsmm.tps import KeypointTps, radial_of_offsets, solve_gauss_jordan, system_matrix
from animcli.train.tps import RandomTps
from animcli.weights.checkpoint_io import load_checkpoint_file

TPS_ATOL, EXACT_ATOL, IMAGE_ATOL = 1e-5, 1e-6, 2e-4


@pytest.fixture(scope="module")
def fixtures(reference_dir: Path) -> Path:
    return reference_dir / "tpsmm" / "fixtures"


@pytest.fixture(scope="module")
def units(fixtures: Path) -> dict[str, np.ndarray]:
    return dict(np.load(fixtures / "tpsmm_units.npz"))


def tensor(units: dict[str, np.ndarray], name: str) -> torch.Tensor:
    return torch.from_numpy(units[name])


def test_coordinate_grid_and_heatmaps(units: dict[str, np.ndarray]) -> None:
    assert_close(make_coordinate_grid((5, 7), torch.zeros(())), units["coordinate_grid_5x7"], 0, "grid")
    heatmaps = kp2gaussian(tensor(units, "kp2gaussian_kp"), (9, 11), 0.01)
    assert_close(heatmaps, units["kp2gaussian_9x11_var0.01"], EXACT_ATOL, "kp2gaussian")


@pytest.mark.parametrize("scale", [0.5, 0.25, 0.125])
def test_anti_alias_pyramid(units: dict[str, np.ndarray], scale: float) -> None:
    down = AntiAliasInterpolation2d(3, scale)
    assert_close(down.weight[0, 0], units[f"antialias_kernel_{scale}"], EXACT_ATOL, "kernel")
    assert_close(down(tensor(units, "antialias_input")), units[f"antialias_out_{scale}"], EXACT_ATOL, "out")


def test_keypoint_tps_fit_and_warp(units: dict[str, np.ndarray]) -> None:
    tps = KeypointTps(tensor(units, "tps_kp_kp1"), tensor(units, "tps_kp_kp2"))
    assert_close(system_matrix(tensor(units, "tps_kp_kp1")), units["tps_kp_L"], TPS_ATOL, "L")
    assert_close(tps.theta, units["tps_kp_theta"], TPS_ATOL, "theta")
    assert_close(tps.control_params, units["tps_kp_control_params"], TPS_ATOL, "control_params")
    assert_close(tps.transform_frame(7, 9), units["tps_kp_grid_7x9"], TPS_ATOL, "grid")
    assert_close(tps.warp(tensor(units, "tps_kp_coords")), units["tps_kp_warped_coords"], TPS_ATOL, "warp")
    kp1 = tensor(units, "tps_kp_kp1")
    assert_close(tps.warp(kp1[:1, 0].expand(2, -1, -1)), units["tps_kp_warped_kp1"], TPS_ATOL, "warped kp1")


def test_gauss_jordan_with_pivoting_solves_the_tps_systems_exactly(units: dict[str, np.ndarray]) -> None:
    """The exported graphs' solver against float64 LAPACK: on the fixture's systems (first pivot 0.01) and on
    systems whose leading entries are zero, where elimination without row swaps would divide by zero."""
    matrix = system_matrix(tensor(units, "tps_kp_kp1"))
    rhs = torch.randn(*matrix.shape[:-1], 2)
    exact = torch.linalg.solve(matrix.double(), rhs.double())
    assert_close(solve_gauss_jordan(matrix, rhs), exact.numpy(), 2e-5, "fixture systems")
    assert_close(tps_grid_float64(units), units["tps_kp_grid_7x9_float64"], TPS_ATOL, "float64 grid")
    permuted = torch.tensor([[0.0, 2, 1], [3, 0, 1], [1, 1, 0]])
    solution = solve_gauss_jordan(permuted, torch.eye(3))
    assert_close(solution @ permuted, torch.eye(3).numpy(), 1e-6, "zero leading pivot")


def tps_grid_float64(units: dict[str, np.ndarray]) -> torch.Tensor:
    return KeypointTps(tensor(units, "tps_kp_kp1").double(), tensor(units, "tps_kp_kp2").double()).transform_frame(7, 9)


def test_random_tps_of_the_equivariance_loss(units: dict[str, np.ndarray]) -> None:
    transform = RandomTps(tensor(units, "tps_random_theta"), tensor(units, "tps_random_control_points"),
                          tensor(units, "tps_random_control_params"), radial=radial_of_offsets)
    assert_close(transform.warp(tensor(units, "tps_random_coords")), units["tps_random_warped"], TPS_ATOL, "warp")
    assert_close(transform.transform_frame(tensor(units, "tps_random_frame_in")), units["tps_random_frame_out"],
                 1e-5, "frame")


def test_dropout_softmax_drops_whole_slots_but_never_the_background(units: dict[str, np.ndarray]) -> None:
    out = dropout_softmax(tensor(units, "dropout_X"), float(units["dropout_P"]), tensor(units, "dropout_rand"))
    assert_close(out, units["dropout_out"], EXACT_ATOL, "dropout")


def test_flow_resize_uses_align_corners_and_a_single_occlusion_map_is_resized(units: dict[str, np.ndarray]) -> None:
    warped = warp(tensor(units, "deform_feature_in"), tensor(units, "deform_deformation_8"))
    assert_close(warped, units["deform_out_16"], 1e-5, "deform")
    feature = tensor(units, "deform_feature_in")
    assert_close(occlude(feature, tensor(units, "occlude_in_8")), units["occlude_out_16_multimask0"],
                 EXACT_ATOL, "occlude")


@torch.no_grad()
def test_single_occlusion_map_networks(fixtures: Path, units: dict[str, np.ndarray]) -> None:
    checkpoint = load_checkpoint_file(fixtures / "checkpoint_multimask0.pth.tar")
    config = checkpoint["config"]  # flat: num_tps, num_channels, multi_mask and the two sections
    common = {key: config[key] for key in ("num_channels", "multi_mask")}
    dense = DenseMotionNetwork(**config["dense_motion_params"], num_tps=config["num_tps"], **common).eval()
    inpainting = InpaintingNetwork(**config["generator_params"], **common).eval()
    dense.load_state_dict(checkpoint["dense_motion_network"])
    inpainting.load_state_dict(checkpoint["inpainting_network"])
    source = tensor(units, "mm0_source")
    motion = dense(source, {"value": tensor(units, "mm0_kp_driving")}, {"value": tensor(units, "mm0_kp_source")})
    assert_close(motion["contribution_maps"], units["mm0_contribution_maps"], 1e-4, "maps")
    assert_close(motion["deformation"], units["mm0_deformation"], 1e-4, "deformation")
    assert len(motion["occlusion_map"]) == 1
    assert_close(motion["occlusion_map"][0], units["mm0_occlusion_map0"], 1e-4, "occlusion")
    prediction = inpainting(source, motion)["prediction"]
    assert_close(prediction, units["mm0_prediction"], IMAGE_ATOL, "prediction")
    shifted = dict(motion, deformation=motion["deformation"] + 0.05)
    assert_not_close(inpainting(source, shifted)["prediction"], units["mm0_prediction"], IMAGE_ATOL)
