"""Monkey-Net against the official code's outputs (reference/monkeynet/fixtures, tolerances from its README),
and behind the family interface: checkpoint loading, transfer options, pose comparison, precision."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from helpers import assert_close, assert_not_close

from animcli.common.errors import ModelError
from animcli.models.base import TransferOptions, motion_slice
from animcli.models.blocks import kp2gaussian
from animcli.models.configs import resolve_config
from animcli.models.monkeynet import MonkeyNetModel, build_discriminator, normalize_kp
from animcli.models.monkeynet.keypoint_detector import gaussian2kp
from animcli.train.losses import feature_matching, lsgan_discriminator, lsgan_generator
from animcli.weights.checkpoint_io import load_checkpoint_file

KP_ATOL = 1e-5  # keypoint means and variances
ATOL = 1e-4  # every other array
LOSS_RTOL = 1e-4
# The *_modern_grid_sample arrays differ by 0.15-0.7 from the right ones; anything close to them is wrong.
MODERN_ATOL = 1e-2


@pytest.fixture(scope="module")
def fixtures(reference_dir: Path) -> Path:
    return reference_dir / "monkeynet" / "fixtures"


@pytest.fixture(scope="module")
def config(fixtures: Path) -> dict[str, Any]:
    return yaml.safe_load((fixtures / "config.yaml").read_text())


@pytest.fixture(scope="module")
def checkpoint(fixtures: Path) -> dict[str, Any]:
    return load_checkpoint_file(fixtures / "checkpoint.pth.tar")


@pytest.fixture(scope="module")
def model(config: dict[str, Any], checkpoint: dict[str, Any]) -> MonkeyNetModel:
    model = MonkeyNetModel(config).eval()
    model.load_checkpoint(checkpoint)
    return model


@pytest.fixture(scope="module")
def inputs(fixtures: Path) -> dict[str, torch.Tensor]:
    arrays = np.load(fixtures / "inputs.npz")
    return {name: torch.from_numpy(arrays[name]) for name in arrays.files}


def load(fixtures: Path, name: str) -> dict[str, np.ndarray]:
    return dict(np.load(fixtures / f"{name}.npz"))


def as_frames(video: torch.Tensor) -> torch.Tensor:
    """(1, 3, D, H, W) video → (D, 3, H, W) frame batch."""
    return video[0].transpose(0, 1)


def as_video(frames: torch.Tensor) -> torch.Tensor:
    return frames.transpose(0, 1)[None]


def official_kp(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(arrays[f"{prefix}{key}"]) for key in ("mean", "var")}


@torch.no_grad()
def test_keypoint_detector(model: MonkeyNetModel, inputs: dict[str, torch.Tensor], fixtures: Path) -> None:
    expected = load(fixtures, "kp_detector")
    source_kp = model.encode_source(as_frames(inputs["source"])).kp
    driving_kp = model.encode_driving(as_frames(inputs["driving"]))
    for key in ("mean", "var"):
        assert_close(source_kp[key][None], expected[f"source_{key}"], KP_ATOL, f"source_{key}")
        assert_close(driving_kp[key][None], expected[f"driving_{key}"], KP_ATOL, f"driving_{key}")
    clip = model.kp_detector(inputs["driving"])  # all frames on the depth axis in one call
    for key in ("mean", "var"):
        assert_close(clip[key], expected[f"driving_{key}_batched_depth"], KP_ATOL, f"{key}_batched_depth")
    for name in ("source", "driving"):
        logits = model.kp_detector.heatmap_logits(inputs[name])
        assert_close(logits, expected[f"{name}_heatmap_logits"], ATOL, f"{name}_heatmap_logits")


def test_gaussian_fit_and_variance_clipping(fixtures: Path) -> None:
    expected = load(fixtures, "kp_detector")
    heatmap = torch.from_numpy(expected["unit_heatmap"])
    clipped = gaussian2kp(heatmap, "matrix", clip_variance=0.001)
    assert_close(clipped["mean"], expected["unit_mean"], KP_ATOL, "unit_mean")
    assert_close(clipped["var"], expected["unit_var_clip0.001"], KP_ATOL, "unit_var_clip0.001")
    assert_close(gaussian2kp(heatmap, "matrix")["var"], expected["unit_var_noclip"], KP_ATOL, "unit_var_noclip")
    assert_close(gaussian2kp(heatmap, "single")["var"], expected["unit_var_single"], KP_ATOL, "unit_var_single")
    assert "var" not in gaussian2kp(heatmap, 0.01)
    # The clipping case must really be exercised: some keypoint's covariance was rescaled.
    assert not np.allclose(expected["unit_var_clip0.001"], expected["unit_var_noclip"])


def test_covariance_gaussians_on_a_non_square_grid(fixtures: Path) -> None:
    expected = load(fixtures, "kp_detector")
    mean = torch.from_numpy(expected["unit_mean"])
    covariance = torch.from_numpy(expected["unit_var_clip0.001"])
    assert_close(kp2gaussian(mean, (24, 40), covariance), expected["unit_kp2gaussian_matrix_24x40"], ATOL,
                 "kp2gaussian matrix")
    assert_close(kp2gaussian(mean, (24, 40), 0.01), expected["unit_kp2gaussian_fixed0.01_24x40"], ATOL,
                 "kp2gaussian fixed")


class Recorder:
    """Outputs of the generator's sub-networks during one call (the fixtures' intermediate arrays)."""

    def __init__(self, model: MonkeyNetModel) -> None:
        dense = model.generator.dense_motion_module
        watched = {"dense_mask_embedding": dense.mask_embedding, "dense_hourglass_out": dense.hourglass,
                   "dense_deformation": dense, "gen_kp_embedding": model.generator.kp_embedding_module}
        self.outputs: dict[str, torch.Tensor] = {}
        self.handles = [module.register_forward_hook(self._hook(name)) for name, module in watched.items()]

    def _hook(self, name: str) -> Callable[..., None]:
        def record(module: torch.nn.Module, args: Any, output: torch.Tensor) -> None:
            self.outputs[name] = output
        return record

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


@pytest.mark.parametrize("mode", ["relative", "absolute"])
@torch.no_grad()
def test_transfer(model: MonkeyNetModel, inputs: dict[str, torch.Tensor], fixtures: Path, mode: str) -> None:
    expected = load(fixtures, f"transfer_{mode}")
    source = model.encode_source(as_frames(inputs["source"]))
    driving = model.encode_driving(as_frames(inputs["driving"]))
    options = model.validate_options(TransferOptions(mode=mode))
    motion = model.transfer(source, driving, motion_slice(driving, 0), options)
    assert_close(motion["mean"][None], expected["kp_norm_mean"], KP_ATOL, "kp_norm_mean")
    assert_close(motion["var"][None], expected["kp_norm_var"], KP_ATOL, "kp_norm_var")

    recorder = Recorder(model)
    frames = model.generate(source, motion)
    recorder.close()
    assert_close(as_video(frames), expected["video_prediction"], ATOL, "video_prediction")
    hourglass = recorder.outputs["dense_hourglass_out"]
    intermediates = {**recorder.outputs, "dense_mask": torch.softmax(hourglass[:, :11], dim=1),
                     "dense_correction": hourglass[:, -2:]}
    for name in ("dense_hourglass_out", "dense_mask", "dense_correction", "dense_deformation", "gen_kp_embedding",
                 "dense_mask_embedding"):
        if name in expected:
            assert_close(intermediates[name], expected[name], ATOL, name)
    deformed = model.generator.deform(source.image, recorder.outputs["dense_deformation"])
    assert_close(deformed, expected["video_deformed"], ATOL, "video_deformed")

    for name, ours in (("video_prediction", as_video(frames)), ("video_deformed", deformed)):
        assert_not_close(ours, expected[f"{name}_modern_grid_sample"], MODERN_ATOL, f"{name} vs modern")


@torch.no_grad()
def test_generator_forward_matches_per_frame_transfer(model: MonkeyNetModel, inputs: dict[str, torch.Tensor],
                                                      fixtures: Path) -> None:
    """The official entry point (source + keypoints → prediction and warped source), all frames at once."""
    expected = load(fixtures, "transfer_relative")
    kp_source = model.kp_detector(inputs["source"])
    kp_driving = {key: torch.from_numpy(expected[f"kp_norm_{key}"]) for key in ("mean", "var")}
    out = model.generator(inputs["source"], kp_driving, kp_source)
    assert_close(out["video_prediction"], expected["video_prediction"], ATOL, "video_prediction")
    assert_close(out["video_deformed"], expected["video_deformed"], ATOL, "video_deformed")


@torch.no_grad()
def test_reconstruction(model: MonkeyNetModel, inputs: dict[str, torch.Tensor], fixtures: Path) -> None:
    expected = load(fixtures, "reconstruction")
    video = as_frames(inputs["driving"])
    source = model.encode_source(video[:1])
    driving = model.encode_driving(video)
    for key in ("mean", "var"):
        assert_close(source.kp[key][None], expected[f"kp_source_{key}"], KP_ATOL, f"kp_source_{key}")
        assert_close(driving[key][None], expected[f"kp_video_{key}"], KP_ATOL, f"kp_video_{key}")
    options = model.validate_options(model.reconstruction_options())
    frames = model.generate(source, model.transfer(source, driving, motion_slice(driving, 0), options))
    assert_close(as_video(frames), expected["video_prediction"], ATOL, "video_prediction")
    l1 = (frames - video).abs().mean()
    np.testing.assert_allclose(l1.numpy(), expected["l1_loss"][0], rtol=LOSS_RTOL)


@torch.no_grad()
def test_discriminator_maps_and_losses(config: dict[str, Any], checkpoint: dict[str, Any],
                                       inputs: dict[str, torch.Tensor], fixtures: Path) -> None:
    expected = load(fixtures, "discriminator")
    reconstruction = load(fixtures, "reconstruction")
    discriminator = build_discriminator(config).eval()
    discriminator.load_state_dict(checkpoint["discriminator"])
    kp_video = official_kp(reconstruction, "kp_video_")
    kp_source = official_kp(reconstruction, "kp_source_")
    prediction = torch.from_numpy(reconstruction["video_prediction"])
    real_scores, fake_scores = [], []
    for t in range(inputs["driving"].shape[2]):  # one frame at a time, as in training
        kp_frame = {key: value[:, t : t + 1] for key, value in kp_video.items()}
        real = discriminator(inputs["driving"][:, :, t : t + 1], kp_frame, kp_source)
        fake = discriminator(prediction[:, :, t : t + 1], kp_frame, kp_source)
        if t == 0:
            for i in range(1, 5):
                assert_close(real[i], expected[f"maps_real_{i}"], ATOL, f"maps_real_{i}")
                assert_close(fake[i], expected[f"maps_fake_{i}"], ATOL, f"maps_fake_{i}")
        real_scores.append(real[-1])
        fake_scores.append(fake[-1])
        weights = config["train_params"]["loss_weights"]["reconstruction"]
        # The training losses (train.losses) on these maps give the official per-frame loss values.
        official = expected["generator_losses"][t]
        np.testing.assert_allclose(feature_matching(real, fake, weights).numpy(), official[:-1].sum(),
                                   rtol=LOSS_RTOL, atol=1e-7)
        np.testing.assert_allclose(lsgan_generator(fake[-1]).numpy(), official[-1], rtol=LOSS_RTOL, atol=1e-7)
        np.testing.assert_allclose(lsgan_discriminator(real[-1], fake[-1]).numpy(),
                                   expected["discriminator_losses"][t, 0], rtol=LOSS_RTOL)
    assert_close(torch.cat(real_scores, dim=2), expected["maps_real_5"], ATOL, "maps_real_5")
    assert_close(torch.cat(fake_scores, dim=2), expected["maps_fake_5"], ATOL, "maps_fake_5")


# -- the family interface ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frames(fixtures: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(source (1, 3, H, W), driving (4, 3, H, W)) in [0, 1]."""
    arrays = np.load(fixtures / "inputs.npz")
    return torch.from_numpy(arrays["source"])[:, :, 0], torch.from_numpy(arrays["driving"])[0].transpose(0, 1)


def animate(model: MonkeyNetModel, source: torch.Tensor, driving: torch.Tensor, mode: str) -> torch.Tensor:
    state = model.encode_source(source)
    motion = model.encode_driving(driving)
    options = model.validate_options(TransferOptions(mode=mode))
    return model.generate(state, model.transfer(state, motion, motion_slice(motion, 0), options))


@torch.no_grad()
def test_loads_checkpoints_without_batch_counters(config: dict[str, Any], checkpoint: dict[str, Any]) -> None:
    """Checkpoints saved before torch 0.4.1 have no ``num_batches_tracked`` entries (unused in eval)."""
    parts = ("generator", "kp_detector")
    stripped = {part: {k: v for k, v in checkpoint[part].items() if not k.endswith("num_batches_tracked")}
                for part in parts}
    assert len(stripped["generator"]) < len(checkpoint["generator"])
    reloaded = MonkeyNetModel(config)
    reloaded.load_checkpoint(stripped)
    for part in parts:
        for name, value in getattr(reloaded, part).state_dict().items():
            if name in stripped[part]:
                assert torch.equal(value, stripped[part][name]), name


def test_rejects_checkpoints_that_do_not_fit(config: dict[str, Any], checkpoint: dict[str, Any]) -> None:
    model = MonkeyNetModel(config)
    with pytest.raises(ModelError, match="kp_detector"):
        model.load_checkpoint({"generator": checkpoint["generator"]})
    with pytest.raises(ModelError, match="shape mismatch"):
        model.load_checkpoint(load_checkpoint_file_with_wrong_width(checkpoint))
    with pytest.raises(ModelError, match="unexpected"):
        extra = {**checkpoint["kp_detector"], "predictor.extra.weight": torch.zeros(1)}
        model.load_checkpoint({**checkpoint, "kp_detector": extra})


def load_checkpoint_file_with_wrong_width(checkpoint: dict[str, Any]) -> dict[str, Any]:
    generator = dict(checkpoint["generator"])
    generator["refinement_module.conv-last.bias"] = torch.zeros(4)
    return {**checkpoint, "generator": generator}


def test_claims_its_checkpoints_and_configs(checkpoint: dict[str, Any], config: dict[str, Any]) -> None:
    assert MonkeyNetModel.claims_checkpoint(checkpoint)
    assert MonkeyNetModel.claims_config(config)
    assert not MonkeyNetModel.claims_config(resolve_config("fomm-vox-256"))


def test_default_mode_comes_from_each_configs_transfer_params(config: dict[str, Any]) -> None:
    relative_config = copy.deepcopy(config)
    relative_config["transfer_params"]["normalization_params"]["move_location"] = True
    with torch.device("meta"):
        assert MonkeyNetModel(config).default_mode == "absolute"
        assert MonkeyNetModel(relative_config).default_mode == "relative"


def test_adapt_scale_is_rejected_for_absolute_transfer(config: dict[str, Any]) -> None:
    with torch.device("meta"):
        model = MonkeyNetModel(config)
    with pytest.raises(ModelError, match="adapt-scale"):
        model.validate_options(TransferOptions(mode="absolute", adapt_scale=True))
    assert model.validate_options(TransferOptions(mode="absolute")).adapt_scale is False
    assert model.validate_options(TransferOptions(mode="relative")).adapt_scale is False  # config: no movement_mult
    assert model.validate_options(TransferOptions(mode="relative", adapt_scale=True)).adapt_scale is True


def square_motion(size: float, offset: tuple[float, float] = (0.0, 0.0), frames: int = 1) -> dict[str, torch.Tensor]:
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [0.0, 0.0]]) * size
    mean = (corners + torch.tensor(offset)).expand(frames, -1, -1).clone()
    var = torch.eye(2).expand(frames, 5, 2, 2) * 0.01
    return {"mean": mean, "var": var.clone()}


def test_relative_transfer_with_movement_scaling() -> None:
    """A source twice the driving keypoints' spread moves twice as far; variances stay the driving ones."""
    source, initial = square_motion(0.4), square_motion(0.2)
    driving = square_motion(0.2, offset=(0.1, -0.05), frames=3)
    driving["var"] = driving["var"] * torch.tensor([1.0, 2.0, 3.0])[:, None, None, None]
    scaled = normalize_kp(source, driving, initial, relative=True, movement_mult=True)
    assert_close(scaled["mean"], (source["mean"] + torch.tensor([0.2, -0.1])).expand(3, -1, -1).numpy(), 1e-6)
    assert torch.equal(scaled["var"], driving["var"])
    plain = normalize_kp(source, driving, initial, relative=True)
    assert_close(plain["mean"], (source["mean"] + torch.tensor([0.1, -0.05])).expand(3, -1, -1).numpy(), 1e-6)
    absolute = normalize_kp(source, driving, initial, relative=False)
    assert torch.equal(absolute["mean"], driving["mean"]) and torch.equal(absolute["var"], driving["var"])


def test_clip_mean_keeps_relative_keypoints_in_the_image() -> None:
    source, initial = square_motion(0.9), square_motion(0.2)
    driving = square_motion(0.2, offset=(0.5, 0.0))
    clipped = normalize_kp(source, driving, initial, relative=True, clip_mean=True)
    assert clipped["mean"].abs().max() == 1.0
    assert normalize_kp(source, driving, initial, relative=True)["mean"].abs().max() > 1.0


def test_adapt_variance_transfers_the_covariance_change() -> None:
    source, initial = square_motion(0.4), square_motion(0.2)
    source["var"] = torch.tensor([[0.02, 0.005], [0.005, 0.01]]).expand(1, 5, 2, 2).clone()
    unchanged = normalize_kp(source, initial, initial, relative=True, adapt_variance=True)
    assert_close(unchanged["var"], source["var"].numpy(), 1e-7, "Σ_0 Σ_0⁻¹ Σ_src")
    driving = square_motion(0.2)
    driving["var"] = initial["var"] * 3
    tripled = normalize_kp(source, driving, initial, relative=False, adapt_variance=True)
    assert_close(tripled["var"], (source["var"] * 3).numpy(), 1e-7, "3 Σ_src")
    driving["var"] = -initial["var"]  # not a covariance: projected back to positive eigenvalues
    eigenvalues = torch.linalg.eigvalsh(normalize_kp(source, driving, initial, True, adapt_variance=True)["var"])
    assert torch.allclose(eigenvalues, torch.full_like(eigenvalues, 1e-6))


@torch.no_grad()
def test_pose_distance_ignores_position_and_scale(model: MonkeyNetModel,
                                                  frames: tuple[torch.Tensor, torch.Tensor]) -> None:
    source_image, driving_frames = frames
    source = model.source_motion(model.encode_source(source_image))
    driving = model.encode_driving(driving_frames)
    assert model.keypoints(driving).shape == (4, 10, 2)
    distances = model.pose_distance(source, driving)
    assert distances.shape == (4,) and torch.all(distances > 0)
    moved = {"mean": source["mean"] * 0.5 + 0.1}
    assert model.pose_distance(source, moved).item() == pytest.approx(0.0, abs=1e-10)


@torch.no_grad()
def test_runs_under_reduced_precision_autocast(model: MonkeyNetModel,
                                               frames: tuple[torch.Tensor, torch.Tensor]) -> None:
    """The CPU bfloat16 autocast path is the CUDA float16 one: keypoints, inverses, softmaxes and sampling
    stay in float32 while the convolutions run in reduced precision."""
    source, driving = frames[0], frames[1][:2]
    reference = animate(model, source, driving, "relative")
    conv_dtypes = []
    to_image = model.generator.refinement_module.get_submodule("conv-last")
    handle = to_image.register_forward_hook(lambda module, args, out: conv_dtypes.append(out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        motion = model.encode_driving(driving)
        assert motion["mean"].dtype == torch.float32 and motion["var"].dtype == torch.float32
        reduced = animate(model, source, driving, "relative")
    handle.remove()
    assert conv_dtypes == [torch.bfloat16]
    assert torch.isfinite(reduced).all()
    assert (reduced.float() - reference).abs().mean() < 0.02


@torch.no_grad()
def test_other_input_sizes_that_the_poolings_divide(model: MonkeyNetModel,
                                                    frames: tuple[torch.Tensor, torch.Tensor]) -> None:
    assert model.size_multiple() == 64  # generator: 6 poolings; detector and dense motion: ½ then 5 poolings
    with pytest.raises(ModelError, match="multiple of 64"):
        model.check_size(96)
    source, driving = (torch.nn.functional.interpolate(x, size=(128, 128)) for x in frames)
    assert animate(model, source, driving[:2], "absolute").shape == (2, 3, 128, 128)
