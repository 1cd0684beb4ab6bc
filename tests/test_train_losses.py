"""Training loss pieces: TPS equivariance transform (against the official fixtures), VGG19 weights mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_close
from safetensors.torch import save_file

from animcli.train.lia import to_unit_range
from animcli.train.losses import ImagePyramid, PerceptualLoss
from animcli.train.tps import RandomTps
from animcli.train.vgg import TAPS, Vgg19Features, VggWeightsError, load_vgg19


@pytest.fixture(scope="module")
def functional(reference_dir: Path) -> dict[str, np.ndarray]:
    return dict(np.load(reference_dir / "fomm" / "fixtures" / "functional.npz"))


@pytest.fixture()
def fixture_tps(functional: dict[str, np.ndarray]) -> RandomTps:
    return RandomTps(torch.tensor(functional["tps_theta"]), torch.tensor(functional["tps_control_points"]),
                     torch.tensor(functional["tps_control_params"]))


def test_tps_warp_jacobian_and_frame_match_the_official_transform(fixture_tps, functional) -> None:
    coords = torch.tensor(functional["tps_coords"]).requires_grad_(True)
    assert_close(fixture_tps.warp(coords), functional["tps_warped"], 1e-6, "warp")
    assert_close(fixture_tps.jacobian(coords), functional["tps_jacobian"], 1e-6, "jacobian")
    frame = torch.tensor(functional["tps_frame_in"])
    assert_close(fixture_tps.transform_frame(frame), functional["tps_frame_out"], 1e-5, "frame")


def test_sampled_tps_has_the_official_structure(functional) -> None:
    transform = RandomTps.sample(3, sigma_affine=0.05, sigma_tps=0.005, points_tps=5)
    assert transform.theta.shape == (3, 2, 3) and transform.control_params.shape == (3, 1, 25)
    assert_close(transform.control_points, functional["tps_control_points"], 0, "control points")
    affine_only = RandomTps.sample(2, sigma_affine=0.0)
    points = torch.rand(1, 5, 2) * 2 - 1
    assert_close(affine_only.warp(points), points.expand(2, -1, -1).numpy(), 1e-7, "identity")


def test_jacobian_is_differentiable_for_the_loss(fixture_tps) -> None:
    coords = (torch.rand(2, 4, 2) * 2 - 1).requires_grad_(True)
    fixture_tps.jacobian(coords * 1.0).sum().backward()
    assert coords.grad is not None and torch.isfinite(coords.grad).all()


def torchvision_style_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """A random VGG19 state dict with timm/torchvision key names, classifier included."""
    torch.manual_seed(seed)
    state = {f"features.{k}": v.clone() for k, v in Vgg19Features().features.state_dict().items()}
    # Layers past relu5_1 and the classifier are in real files too and must be ignored.
    state["features.30.weight"] = torch.randn(512, 512, 3, 3)
    state["pre_logits.fc1.weight"] = torch.randn(8, 512, 7, 7)
    state["head.fc.weight"] = torch.randn(10, 8)
    return state


def test_vgg_weights_load_from_a_timm_layout_safetensors_file(tmp_path: Path) -> None:
    state = torchvision_style_state_dict(1)
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    vgg = load_vgg19(path)
    assert_close(vgg.features[28].weight, state["features.28.weight"].numpy(), 0, "conv5_1")
    image = torch.rand(1, 3, 32, 32)
    taps = vgg(image)
    assert [t.shape[1] for t in taps] == [64, 128, 256, 512, 512] and len(taps) == len(TAPS)
    # Taps equal running torchvision's slices [0:2], [2:7], … on the ImageNet-normalised image.
    normalised = (image - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert_close(taps[1], vgg.features[:7](normalised).detach().numpy(), 1e-5, "relu2_1")
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training


def test_vgg_weights_from_a_pth_file_and_bad_files(tmp_path: Path) -> None:
    state = torchvision_style_state_dict(2)
    torch.save(state, tmp_path / "vgg19.pth")
    assert_close(load_vgg19(tmp_path / "vgg19.pth").features[0].bias, state["features.0.bias"].numpy(), 0)
    del state["features.5.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(VggWeightsError, match="lack 1 feature tensors"):
        load_vgg19(tmp_path / "partial.pth")
    with pytest.raises(VggWeightsError, match="does not exist"):
        load_vgg19(tmp_path / "missing.safetensors")


def test_pyramid_keys_and_pixel_fallback_warns() -> None:
    pyramid = ImagePyramid([1, 0.5, 0.25])
    levels = pyramid(torch.rand(2, 3, 16, 16))
    assert {k: tuple(v.shape[2:]) for k, v in levels.items()} == {
        "prediction_1": (16, 16), "prediction_0.5": (8, 8), "prediction_0.25": (4, 4)}
    with pytest.warns(UserWarning, match="WITHOUT the VGG19 perceptual loss"):
        loss = PerceptualLoss([1, 0.5], [10, 10], vgg=None)
    image = torch.rand(1, 3, 8, 8)
    assert float(loss(image, image)) == 0
    assert float(loss(image, 1 - image)) > 0


def test_lia_pixel_pyramid_pulls_back_an_output_below_the_range() -> None:
    # Issue 20: with the clamp before the pyramid, a LIA output that overshot −1 got no gradient from it at all.
    with pytest.warns(UserWarning, match="WITHOUT the VGG19 perceptual loss"):
        loss = PerceptualLoss([1, 0.5], [10] * 5, vgg=None)
    reconstruction = torch.full((1, 3, 8, 8), -1.5, requires_grad=True)
    value = loss(to_unit_range(reconstruction), to_unit_range(torch.full((1, 3, 8, 8), -1.0)))
    value.backward()
    assert float(value.detach()) > 0
    assert bool((reconstruction.grad < 0).all())  # a descent step raises every pixel towards −1


def test_vgg_clamps_each_input_to_its_range() -> None:
    vgg = Vgg19Features()
    image = torch.rand(1, 3, 32, 32)
    overshooting = image.clone()
    overshooting[..., :8, :8] += 1
    overshooting[..., 8:16, :8] -= 1
    for clamped, raw in zip(vgg(overshooting.clamp(0, 1)), vgg(overshooting), strict=True):
        assert torch.equal(clamped, raw)


def test_hub_weights_come_from_the_cache_without_network(tmp_path: Path, monkeypatch) -> None:
    snapshot = tmp_path / "hub" / "models--timm--vgg19.tv_in1k" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (tmp_path / "hub" / "models--timm--vgg19.tv_in1k" / "refs").mkdir()
    (tmp_path / "hub" / "models--timm--vgg19.tv_in1k" / "refs" / "main").write_text("abc123")
    state = torchvision_style_state_dict(3)
    save_file(state, str(snapshot / "model.safetensors"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    vgg = load_vgg19()
    assert_close(vgg.features[2].weight, state["features.2.weight"].numpy(), 0, "conv1_2")


def test_unavailable_hub_weights_explain_the_alternatives(tmp_path: Path, monkeypatch) -> None:
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(VggWeightsError, match="--vgg-weights PATH.*--perceptual none"):
        load_vgg19()
