"""`animcli animate` with the TPSMM fixture checkpoint, end to end: PNG files in, PNG frames out, in all three
modes on both backends; the cross-cutting options; refusals; safetensors conversion.

The official frames (tpsmm_fixture.npz) were made from float inputs (skimage resizes of the raw files); a PNG can
only hold them rounded to 8 bits, which moves the regressed keypoints a little (measured: up to 13 levels at a few
pixels, ≤ 0.42 levels on average, on avd). So the CLI's frames are checked against the same networks run in float
on the decoded PNGs, at the fixture's uint8 tolerance (≤ 1 level, ≥ 99.9 % equal), and against the official
frames on average; test_tpsmm_parity checks the networks against the official frames on the float inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import test_tpsmm_parity as parity
import torch
from helpers import write_inputs
from typer.testing import CliRunner

from animcli.cli import app
from animcli.media import open_video, read_image
from animcli.models.base import TransferOptions, motion_slice
from animcli.models.tpsmm import TpsmmModel

expected = parity.expected
fixtures = parity.fixtures
checkpoint = parity.checkpoint
model = parity.model
inputs = parity.inputs

runner = CliRunner()
SIZE = 96
#: mean distance to the official frames that PNG rounding of the inputs accounts for (measured ≤ 0.42)
OFFICIAL_MEAN_LEVELS = 0.6


@pytest.fixture(scope="module")
def pngs(inputs, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    source, driving = inputs
    return write_inputs(tmp_path_factory.mktemp("tpsmm-pngs"), parity.to_uint8(source)[0], parity.to_uint8(driving))


def read_frames(directory: Path) -> np.ndarray:
    with open_video(directory) as frames:
        return np.stack(list(frames))


def animate(tmp_path: Path, pngs: tuple[Path, Path], fixtures: Path, *options: str) -> np.ndarray:
    source, driving = pngs
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{tmp_path}/out/", "--checkpoint",
                                 str(fixtures / "checkpoint.pth.tar"), "--config", str(fixtures / "config.yaml"),
                                 "--size", str(SIZE), "--device", "cpu", "--threads", "1", "-q", *options])
    assert result.exit_code == 0, result.output
    return read_frames(tmp_path / "out")


@torch.no_grad()
def networks_on_pngs(model: TpsmmModel, pngs: tuple[Path, Path], mode: str) -> np.ndarray:
    source = torch.from_numpy(read_image(pngs[0])).permute(2, 0, 1)[None].float() / 255
    driving = torch.from_numpy(read_frames(pngs[1])).permute(0, 3, 1, 2).float() / 255
    state = model.encode_source(source)
    motion = model.encode_driving(driving)
    transferred = model.transfer(state, motion, motion_slice(motion, 0), TransferOptions(mode))
    return parity.to_uint8(model.generate(state, transferred))


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
@pytest.mark.parametrize("official", list(parity.MODES))
def test_animate_in_every_mode_on_both_backends(tmp_path: Path, pngs: tuple[Path, Path], fixtures: Path,
                                                model: TpsmmModel, expected: dict[str, np.ndarray], backend: str,
                                                official: str) -> None:
    mode = parity.MODES[official]
    frames = animate(tmp_path, pngs, fixtures, "--mode", mode, "--backend", backend)
    parity.assert_frames_match(frames, networks_on_pngs(model, pngs, mode), f"{official} ({backend})")
    levels = np.abs(frames.astype(np.int16) - expected[f"anim_{official}_uint8"].astype(np.int16)).mean()
    assert levels <= OFFICIAL_MEAN_LEVELS, f"{official} ({backend}): {levels:.3f} levels from the official frames"


def test_relative_is_the_default_mode(tmp_path: Path, pngs: tuple[Path, Path], fixtures: Path,
                                      model: TpsmmModel) -> None:
    frames = animate(tmp_path, pngs, fixtures, "--backend", "torch")
    parity.assert_frames_match(frames, networks_on_pngs(model, pngs, "relative"), "default mode")


@pytest.mark.parametrize("mode", ["relative", "avd"])
def test_smoothing_and_best_frame_run_through_the_generic_machinery(tmp_path: Path, pngs: tuple[Path, Path],
                                                                    fixtures: Path, mode: str) -> None:
    frames = animate(tmp_path, pngs, fixtures, "--mode", mode, "--smooth-strength", "1", "--find-best-frame",
                     "--backend", "torch", "--side-by-side")
    assert frames.shape == (5, SIZE, 3 * SIZE, 3)


def test_a_checkpoint_without_an_avd_network_refuses_avd_mode_in_one_line(tmp_path: Path, pngs: tuple[Path, Path],
                                                                          fixtures: Path, checkpoint: dict) -> None:
    trained = {key: value for key, value in checkpoint.items() if key not in ("avd_network", "optimizer_avd")}
    torch.save(trained, tmp_path / "no-avd.pth.tar")
    source, driving = pngs
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{tmp_path}/out.mp4", "--checkpoint",
                                 str(tmp_path / "no-avd.pth.tar"), "--config", str(fixtures / "config.yaml"),
                                 "--size", str(SIZE), "--mode", "avd", "-q"])
    assert result.exit_code == 2
    assert "avd_network" in result.output and len(result.output.strip().splitlines()) == 1


def test_families_without_an_avd_network_refuse_avd_mode_in_one_line(tmp_path: Path, pngs: tuple[Path, Path]) -> None:
    source, driving = pngs
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{tmp_path}/out.mp4",
                                 "--model", "demo", "--mode", "avd", "-q"])
    assert result.exit_code == 2
    assert "--mode avd" in result.output and len(result.output.strip().splitlines()) == 1


def test_safetensors_conversion_animates_the_same(tmp_path: Path, pngs: tuple[Path, Path], fixtures: Path,
                                                  model: TpsmmModel) -> None:
    converted = tmp_path / "tpsmm.safetensors"
    result = runner.invoke(app, ["models", "convert", str(fixtures / "checkpoint.pth.tar"), str(converted),
                                 "--config", str(fixtures / "config.yaml")])
    assert result.exit_code == 0, result.output
    source, driving = pngs
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{tmp_path}/out/", "--checkpoint",
                                 str(converted), "--size", str(SIZE), "--mode", "avd", "--backend", "torch",
                                 "--threads", "1", "-q"])
    assert result.exit_code == 0, result.output
    parity.assert_frames_match(read_frames(tmp_path / "out"), networks_on_pngs(model, pngs, "avd"), "safetensors")
