"""`animcli animate` with the Monkey-Net fixture checkpoint: PNG frames in, PNG frames out, both modes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from animcli.cli import app
from animcli.media import open_video

runner = CliRunner()


@pytest.fixture(scope="module")
def fixtures_dir(reference_dir: Path) -> Path:
    return reference_dir / "monkeynet" / "fixtures"


def as_uint8_frames(video: np.ndarray) -> np.ndarray:
    """(1, 3, D, H, W) in [0, 1] → (D, H, W, 3) uint8, rounded like animcli's writer."""
    return np.rint(video[0].transpose(1, 2, 3, 0) * 255).astype(np.uint8)


def write_png(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def pngs(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The fixture inputs (decoded JPEG pixels, so exact multiples of 1/255) as PNG files."""
    inputs = np.load(fixtures_dir / "inputs.npz")
    root = tmp_path_factory.mktemp("monkeynet-pngs")
    write_png(root / "source.png", as_uint8_frames(inputs["source"])[0])
    (root / "driving").mkdir()
    for index, frame in enumerate(as_uint8_frames(inputs["driving"])):
        write_png(root / "driving" / f"{index:04d}.png", frame)
    return root / "source.png", root / "driving"


def read_frames(directory: Path) -> np.ndarray:
    with open_video(directory) as frames:
        return np.stack(list(frames))


def run_animate(fixtures_dir: Path, pngs: tuple[Path, Path], output: Path, *options: str) -> np.ndarray:
    source, driving = pngs
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{output}/",
                                 "--checkpoint", str(fixtures_dir / "checkpoint.pth.tar"),
                                 "--config", str(fixtures_dir / "config.yaml"), "--device", "cpu",
                                 "--batch-size", "3", "-q", *options])
    assert result.exit_code == 0, result.output
    return read_frames(output)


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_animate_png_frames_in_both_modes(fixtures_dir: Path, pngs: tuple[Path, Path], tmp_path: Path,
                                          mode: str) -> None:
    expected = as_uint8_frames(np.load(fixtures_dir / f"transfer_{mode}.npz")["video_prediction"])
    frames = run_animate(fixtures_dir, pngs, tmp_path / "out", "--mode", mode)
    assert frames.shape == expected.shape
    assert np.abs(frames.astype(np.int16) - expected).max() <= 1


def test_the_configs_transfer_mode_is_the_default(fixtures_dir: Path, pngs: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    """The fixture config is moving-gif's: absolute transfer unless asked otherwise."""
    expected = as_uint8_frames(np.load(fixtures_dir / "transfer_absolute.npz")["video_prediction"])
    assert np.abs(run_animate(fixtures_dir, pngs, tmp_path / "out").astype(np.int16) - expected).max() <= 1


def test_adapt_scale_with_absolute_transfer_is_one_clear_error(fixtures_dir: Path, pngs: tuple[Path, Path],
                                                               tmp_path: Path) -> None:
    source, driving = pngs
    output = tmp_path / "out"
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{output}/",
                                 "--checkpoint", str(fixtures_dir / "checkpoint.pth.tar"),
                                 "--config", str(fixtures_dir / "config.yaml"), "--mode", "absolute",
                                 "--adapt-scale", "--device", "cpu", "-q"])
    assert result.exit_code == 2
    assert "adapt-scale" in result.output and "Traceback" not in result.output
    assert not output.exists()
