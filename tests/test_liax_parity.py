"""LIA-X against the official code's arrays (liax_fixture.npz, topology512.npz), through the AnimationModel
interface: encoders, the motion dictionary, every decoder level, relative animation, edited animation, image
and video editing, the manipulation sweep, and the full 7-level 512 px topology."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close

from animcli.models.base import TransferOptions
from animcli.models.liax import LiaxModel, LiaxSourceState
from animcli.models.liax.directions import sweep_schedule
from animcli.weights.checkpoint_io import load_checkpoint_file
from animcli.workflows.output import stretch_clip_uint8

CODE_ATOL = 1e-5
DECODER_ATOL = 1e-4
OUTPUT_ATOL = 5e-4
TOPOLOGY_STAGE_ATOL = 1e-3
TOPOLOGY_OUTPUT_MAX = 0.25
TOPOLOGY_OUTPUT_MEAN = 1e-3
MIN_EXACT_UINT8_FRACTION = 0.95


@pytest.fixture(scope="module")
def fixtures_dir(reference_dir: Path) -> Path:
    return reference_dir / "liax" / "fixtures"


@pytest.fixture(scope="module")
def expected(fixtures_dir: Path) -> dict[str, np.ndarray]:
    return dict(np.load(fixtures_dir / "liax_fixture.npz"))


@pytest.fixture(scope="module")
def inputs(fixtures_dir: Path) -> dict[str, np.ndarray]:
    return dict(np.load(fixtures_dir / "inputs.npz"))


@pytest.fixture(scope="module")
def fixture_config(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads((fixtures_dir / "config.json").read_text())


@pytest.fixture(scope="module")
def model(fixtures_dir: Path) -> LiaxModel:
    checkpoint = load_checkpoint_file(fixtures_dir / "checkpoint.pt")
    return LiaxModel.from_checkpoint(LiaxModel.infer_config(checkpoint), checkpoint).eval()


def images01(inputs: dict[str, np.ndarray], name: str) -> torch.Tensor:
    """The fixture's [-1, 1] model inputs as the [0, 1] images the interface takes, in the official NHWC layout."""
    return ((torch.from_numpy(inputs[name]) + 1) / 2).contiguous(memory_format=torch.channels_last)


def edits_of(fixture_config: dict[str, Any], name: str) -> tuple[tuple[int, float], ...]:
    edit = fixture_config["edits"][name]
    return tuple((int(i), float(v)) for i, v in zip(edit["motion_id"], edit["motion_value"], strict=True) if v)


@pytest.fixture(scope="module")
def source_state(model: LiaxModel, inputs: dict[str, np.ndarray]) -> LiaxSourceState:
    with torch.inference_mode():
        return model.encode_source(images01(inputs, "source"))


def animate(model: LiaxModel, state: LiaxSourceState, frames: torch.Tensor, options: TransferOptions,
            chunk: int, trace_frame: int | None = None) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """The official ``animate`` loop: motion relative to frame 0, driving frames encoded ``chunk`` at a time."""
    with torch.inference_mode():
        initial = model.encode_driving(frames[0:1])
        latents, outputs, trace = [], [], []
        for start in range(0, len(frames), chunk):
            motion = model.transfer(state, model.encode_driving(frames[start:start + chunk]), initial, options)
            feats = [f.expand(len(motion["latent"]), -1, -1, -1) for f in state.feats]
            level_trace: list[dict] = []
            outputs.append(model.gen.dec(motion["latent"], feats, trace=level_trace))
            latents.append(motion["latent"])
            if trace_frame is not None and start <= trace_frame < start + chunk:
                trace = [{k: v[trace_frame - start:trace_frame - start + 1] for k, v in level.items()}
                         for level in level_trace]
    return torch.cat(latents), torch.cat(outputs), trace


def assert_uint8_close(actual: np.ndarray, expected: np.ndarray, name: str) -> None:
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    assert diff.max() <= 1, f"{name}: max difference {diff.max()} grey levels"
    assert (diff == 0).mean() >= MIN_EXACT_UINT8_FRACTION, f"{name}: only {(diff == 0).mean():.3f} exactly equal"


def official_writer_frames(outputs: torch.Tensor, height: int, width: int) -> np.ndarray:
    """What the official writer hands to the encoder: resized to the source's size (bilinear, antialiased),
    clamped, then the whole clip stretched by its min/max (our clip normalisation)."""
    resized = F.interpolate(outputs, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return stretch_clip_uint8(resized.clamp(-1, 1).permute(0, 2, 3, 1).numpy())


def test_architecture_read_off_the_checkpoint(model: LiaxModel, fixture_config: dict[str, Any]) -> None:
    assert model.size == fixture_config["input_size"]
    assert list(model.arch.encoder_widths) == fixture_config["encoder_widths"]
    kept_halvings = [b for b in fixture_config["encoder_blocks_kept"] if b not in ("block1", "block_512", "block8")]
    assert list(model.arch.encoder_blocks) == kept_halvings
    assert list(model.arch.decoder_levels) == fixture_config["decoder_stages_kept"]
    assert sum(p.numel() for p in model.parameters()) == fixture_config["generator_params"]


def test_encoders_and_dictionary(model: LiaxModel, source_state: LiaxSourceState, inputs: dict[str, np.ndarray],
                                 expected: dict[str, np.ndarray]) -> None:
    assert_close(source_state.code, expected["enc_source_z"], CODE_ATOL, "source code")
    assert_close(source_state.alpha, expected["enc_source_alpha"], CODE_ATOL, "source alpha")
    for level, feat in enumerate(source_state.feats):
        assert_close(feat, expected[f"enc_source_feat{level}"], CODE_ATOL, f"source feature {level}")
    driving = images01(inputs, "driving")
    with torch.inference_mode():
        alphas = torch.cat([model.encode_driving(driving[:3])["alpha"], model.encode_driving(driving[3:])["alpha"]])
        directions = model.gen.dec.direction(torch.eye(model.arch.motion_dim), model.dictionary_basis())
        of_driving = model.gen.dec.direction(alphas, model.dictionary_basis())
    assert_close(alphas, expected["enc_driving_alpha"], CODE_ATOL, "driving alpha")
    for column in range(model.arch.motion_dim):  # column by column: a sign flip is an error of 2|q|
        assert_close(model.dictionary_basis()[:, column], expected["dict_Q"][:, column], CODE_ATOL,
                     f"Q column {column}")
    assert_close(directions, expected["dict_directions"], CODE_ATOL, "dictionary directions")
    assert_close(of_driving, expected["dict_of_driving_alpha"], CODE_ATOL, "Dir(driving alpha)")


def test_relative_animation_level_by_level(model: LiaxModel, source_state: LiaxSourceState,
                                           inputs: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                                           fixture_config: dict[str, Any]) -> None:
    latents, outputs, trace = animate(model, source_state, images01(inputs, "driving"), TransferOptions(),
                                      fixture_config["chunk_size"], trace_frame=1)
    assert_close(latents, expected["anim_plain_latent"], CODE_ATOL, "latents")
    assert_close(latents[1:2], expected["dec_frame1_latent"], CODE_ATOL, "frame 1 latent")
    for stage, level in enumerate(trace):
        for name, value in level.items():
            key = f"dec_frame1_stage{stage}_{name}"
            if key in expected:  # the last level's maps are only stored as its logits and RGB
                assert_close(value, expected[key], DECODER_ATOL, key)
    assert_close(outputs, expected["anim_plain_out"], OUTPUT_ATOL, "animation")
    height, width = inputs["source_raw_uint8"].shape[:2]
    assert_uint8_close(official_writer_frames(outputs, height, width), expected["anim_plain_uint8_vid_animation"],
                       "clip-normalised frames")


def test_edited_animation(model: LiaxModel, source_state: LiaxSourceState, inputs: dict[str, np.ndarray],
                          expected: dict[str, np.ndarray], fixture_config: dict[str, Any]) -> None:
    edits = edits_of(fixture_config, "anim_edit")
    assert_close(model.edited_alpha(source_state.alpha, edits), expected["anim_edit_source_alpha_edited"],
                 CODE_ATOL, "edited source alpha")
    latents, outputs, _ = animate(model, source_state, images01(inputs, "driving"), TransferOptions(edits=edits),
                                  fixture_config["chunk_size"])
    assert_close(latents, expected["anim_edit_latent"], CODE_ATOL, "edited latents")
    assert_close(outputs, expected["anim_edit_out"], OUTPUT_ATOL, "edited animation")


def test_image_edit_is_the_source_rendered_with_its_own_edited_motion(
        model: LiaxModel, source_state: LiaxSourceState, expected: dict[str, np.ndarray],
        fixture_config: dict[str, Any]) -> None:
    own = model.source_motion(source_state)
    with torch.inference_mode():
        motion = model.transfer(source_state, own, own, TransferOptions(edits=edits_of(fixture_config, "img_edit")))
        output = model.generate_signed(source_state, motion)
    assert_close(motion["latent"], expected["img_edit_latent"], CODE_ATOL, "image edit latent")
    assert_close(output, expected["img_edit_out"], OUTPUT_ATOL, "image edit")


def test_video_edit_animates_the_first_frame_with_the_edit(model: LiaxModel, inputs: dict[str, np.ndarray],
                                                           expected: dict[str, np.ndarray],
                                                           fixture_config: dict[str, Any]) -> None:
    driving = images01(inputs, "driving")
    with torch.inference_mode():
        state = model.encode_source(driving[0:1])
    latents, outputs, _ = animate(model, state, driving, TransferOptions(edits=edits_of(fixture_config, "vid_edit")),
                                  fixture_config["chunk_size"])
    assert_close(latents, expected["vid_edit_latent"], CODE_ATOL, "video edit latents")
    assert_close(outputs, expected["vid_edit_out"], OUTPUT_ATOL, "video edit")


@pytest.mark.parametrize(("edit", "schedule"), [("manip", "manip_schedule"),
                                                ("manip2_schedule_only", "manip2_schedule")])
def test_sweep_schedule_is_the_official_one_bit_for_bit(expected: dict[str, np.ndarray],
                                                        fixture_config: dict[str, Any], edit: str,
                                                        schedule: str) -> None:
    config = fixture_config["edits"][edit]
    computed = sweep_schedule(np.array(config["motion_value"]), config["motion_id"])
    np.testing.assert_array_equal(computed, expected[schedule])


def test_sweep_frames(model: LiaxModel, source_state: LiaxSourceState, expected: dict[str, np.ndarray],
                      fixture_config: dict[str, Any]) -> None:
    config = fixture_config["edits"]["manip"]
    schedule = sweep_schedule(np.array(config["motion_value"]), config["motion_id"])
    own = model.source_motion(source_state)
    frames = []
    with torch.inference_mode():
        for index in expected["manip_frame_index"]:
            edits = tuple(zip(config["motion_id"], schedule[index].tolist(), strict=True))
            frames.append(model.generate_signed(source_state, model.transfer(source_state, own, own,
                                                                             TransferOptions(edits=edits))))
    assert_close(torch.cat(frames), expected["manip_out_frames"], OUTPUT_ATOL, "sweep frames")


@pytest.fixture(scope="module")
def topology(fixtures_dir: Path) -> dict[str, np.ndarray]:
    return dict(np.load(fixtures_dir / "topology512.npz"))


def test_full_512_topology(fixtures_dir: Path, topology: dict[str, np.ndarray]) -> None:
    checkpoint = load_checkpoint_file(fixtures_dir / "checkpoint_topology512.pt")
    model = LiaxModel.from_checkpoint(LiaxModel.infer_config(checkpoint), checkpoint).eval()
    official_keys = [line.split()[0] for line in (fixtures_dir.parent / "keys-liax-generator.txt").open()]
    assert set(model.gen.state_dict()) == set(official_keys) == set(checkpoint)
    assert model.size == 512

    def to_images(name: str) -> torch.Tensor:
        return torch.from_numpy(topology[name]).permute(2, 0, 1)[None].float() / 255

    edit = ((37, -0.5), (39, -0.5), (13, 0.2), (25, -0.3))
    trace: list[dict] = []
    with torch.inference_mode():
        state = model.encode_source(to_images("source_uint8"))
        driving_alpha = model.encode_driving(to_images("driving_frame0_uint8"))["alpha"]
        own = model.source_motion(state)
        latent = model.transfer(state, own, own, TransferOptions(edits=edit))["latent"]
        output = model.gen.dec(latent, state.feats, trace=trace)
    assert_close(state.code, topology["enc_source_z"], CODE_ATOL, "source code")
    assert_close(state.alpha, topology["enc_source_alpha"], CODE_ATOL, "source alpha")
    for level in range(3):
        assert_close(state.feats[level], topology[f"enc_source_feat{level}"], CODE_ATOL, f"feature {level}")
    assert_close(driving_alpha, topology["enc_driving_alpha"], CODE_ATOL, "driving alpha")
    assert_close(latent, topology["img_edit_latent"], CODE_ATOL, "edit latent")
    for stage in range(4):
        for name in ("flow_logits", "rgb"):
            key = f"dec_stage{stage}_{name}"
            assert_close(trace[stage][name], topology[key], TOPOLOGY_STAGE_ATOL, key)
    for part, region in (("sub4", output[:, :, ::4, ::4]), ("crop", output[:, :, 224:288, 224:288])):
        diff = (region - torch.from_numpy(topology[f"img_edit_out_{part}"])).abs()
        assert diff.max() <= TOPOLOGY_OUTPUT_MAX and diff.mean() <= TOPOLOGY_OUTPUT_MEAN, f"{part}: {diff.max()}"
