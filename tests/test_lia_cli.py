"""`animcli animate` with the LIA fixture checkpoint: PNG frames in, PNG frames out."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import test_lia_parity as parity
from typer.testing import CliRunner

from animcli.cli import app
from animcli.media import open_video

# The fixture-loading fixtures live in test_lia_parity; pytest finds them as module attributes.
expected = parity.expected
fixtures_dir = parity.fixtures_dir


runner = CliRunner()


def write_png(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def pngs(expected: dict[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lia-pngs")
    write_png(root / "source.png", expected["source_uint8"])
    (root / "driving").mkdir()
    for index, frame in enumerate(expected["driving_uint8"]):
        write_png(root / "driving" / f"{index:04d}.png", frame)
    return root / "source.png", root / "driving"


def read_frames(directory: Path) -> np.ndarray:
    with open_video(directory) as frames:
        return np.stack(list(frames))


def official_frames(expected: dict[str, np.ndarray], mode: str) -> np.ndarray:
    """The official outputs with animcli's per-frame writer: clamp, (x + 1) / 2, ×255, rounding."""
    frames = (np.clip(expected[f"out_{mode}"], -1, 1) + 1) / 2
    return np.rint(frames.transpose(0, 2, 3, 1) * 255).astype(np.int16)


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_animate_png_frames_in_both_modes(fixtures_dir: Path, pngs: tuple[Path, Path], tmp_path: Path,
                                          expected: dict[str, np.ndarray], mode: str) -> None:
    source, driving = pngs
    output = tmp_path / "out"
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{output}/",
                                 "--checkpoint", str(fixtures_dir / "checkpoint.pt"),
                                 "--config", str(fixtures_dir / "config.json"), "--mode", mode,
                                 "--no-adapt-scale", "--device", "cpu", "--batch-size", "3", "-q"])
    assert result.exit_code == 0, result.output
    frames = read_frames(output)
    assert frames.shape == expected["driving_uint8"].shape
    assert np.abs(frames.astype(np.int16) - official_frames(expected, mode)).max() <= 1


def test_checkpoint_without_config_uses_the_shapes_and_training_args(fixtures_dir: Path, pngs: tuple[Path, Path],
                                                                     tmp_path: Path,
                                                                     expected: dict[str, np.ndarray]) -> None:
    source, driving = pngs
    checkpoint = tmp_path / "trained.pt"  # alone in its folder: no config beside it
    shutil.copy(fixtures_dir / "checkpoint_gen_args.pt", checkpoint)
    output = tmp_path / "out"
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{output}/",
                                 "--checkpoint", str(checkpoint), "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    # The args say dataset=vox, so the default is the official relative mode.
    assert np.abs(read_frames(output).astype(np.int16) - official_frames(expected, "relative")).max() <= 1


def test_adapt_scale_is_rejected_in_one_line(fixtures_dir: Path, pngs: tuple[Path, Path], tmp_path: Path) -> None:
    source, driving = pngs
    output = tmp_path / "out"
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{output}/",
                                 "--checkpoint", str(fixtures_dir / "checkpoint.pt"), "--adapt-scale",
                                 "--device", "cpu", "-q"])
    assert result.exit_code == 2
    assert "--adapt-scale has no meaning for lia" in result.output
    assert "Traceback" not in result.output
    assert not output.exists()


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_lia_demo_normalization_reproduces_the_official_video(fixtures_dir: Path, pngs: tuple[Path, Path],
                                                              tmp_path: Path, expected: dict[str, np.ndarray],
                                                              mode: str) -> None:
    source, driving = pngs
    output = tmp_path / "demo-normalized"
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{output}/",
                                 "--checkpoint", str(fixtures_dir / "checkpoint.pt"),
                                 "--config", str(fixtures_dir / "config.json"), "--mode", mode,
                                 "--lia-demo-normalization", "--batch-size", "3", "-q"])
    assert result.exit_code == 0, result.output
    difference = np.abs(read_frames(output).astype(np.int16) - expected[f"video_uint8_{mode}"].astype(np.int16))
    assert difference.max() <= 1
    assert (difference == 0).mean() > 0.99
