"""`animcli animate` and `animcli edit` with the LIA-X fixture checkpoint, end to end: PNG frames in, PNG
frames (or an image, or a video) out, compared with the official code's outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_liax_parity as parity
from helpers import write_inputs
from typer.testing import CliRunner

from animcli.cli import app
from animcli.media import open_video, read_image

# The fixture-loading fixtures live in test_liax_parity; pytest finds them as module attributes.
expected = parity.expected
inputs = parity.inputs
fixtures_dir = parity.fixtures_dir
fixture_config = parity.fixture_config

runner = CliRunner()
#: PNG inputs quantise the official float driving frames (≤ half a grey level): measured max 1 level, mean
#: ≤ 0.007; a wrong edit, frame or normalisation is off by far more.
MAX_LEVELS = 2
MEAN_LEVELS = 0.05
FP16_MEAN_LEVELS = 0.3
FP16_MAX_LEVELS = 10


def to_uint8(signed: np.ndarray) -> np.ndarray:
    """[-1, 1] (…, 3, H, W) → uint8 (…, H, W, 3), rounded like animcli's per-frame writer."""
    return np.rint((np.clip(signed, -1, 1) + 1) / 2 * 255).astype(np.uint8).swapaxes(-3, -1).swapaxes(-3, -2)


@pytest.fixture(scope="module")
def pngs(inputs: dict[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The fixture's model inputs as files: the source exactly (it came from a uint8 image), the driving frames
    rounded to uint8."""
    root = tmp_path_factory.mktemp("liax-pngs")
    return write_inputs(root, to_uint8(inputs["source"][0]), to_uint8(inputs["driving"]))


@pytest.fixture(scope="module")
def checkpoint(fixtures_dir: Path) -> str:
    return str(fixtures_dir / "checkpoint.pt")


def read_frames(directory: Path) -> np.ndarray:
    with open_video(directory) as frames:
        return np.stack(list(frames))


def assert_frames_close(actual: np.ndarray, official_signed: np.ndarray, name: str) -> None:
    difference = np.abs(actual.astype(np.int16) - to_uint8(official_signed).astype(np.int16))
    assert difference.max() <= MAX_LEVELS and difference.mean() <= MEAN_LEVELS, \
        f"{name}: max {difference.max()}, mean {difference.mean():.3f} grey levels"


def edit_args(fixture_config: dict[str, Any], name: str) -> list[str]:
    edit = fixture_config["edits"][name]
    return [arg for i, v in zip(edit["motion_id"], edit["motion_value"], strict=True) if v
            for arg in ("--edit", f"{i}={v}")]


def test_animate_relative_by_default_in_chunks(pngs: tuple[Path, Path], checkpoint: str, tmp_path: Path,
                                               expected: dict[str, np.ndarray]) -> None:
    source, driving = pngs
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{tmp_path}/out/",
                                 "--checkpoint", checkpoint, "--batch-size", "3", "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    assert_frames_close(read_frames(tmp_path / "out"), expected["anim_plain_out"], "relative animation")


def test_animate_with_edits_by_name_and_number(pngs: tuple[Path, Path], checkpoint: str, tmp_path: Path,
                                               expected: dict[str, np.ndarray],
                                               fixture_config: dict[str, Any]) -> None:
    source, driving = pngs
    by_number = edit_args(fixture_config, "anim_edit")
    # yaw is direction 37: naming it must give the same result as its number.
    by_name = [arg.replace("37=", "yaw=") for arg in by_number]
    assert by_name != by_number
    for name, edits in (("numbers", by_number), ("names", by_name)):
        result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{tmp_path}/{name}/",
                                     "--checkpoint", checkpoint, *edits, "-q"])
        assert result.exit_code == 0, result.output
        assert_frames_close(read_frames(tmp_path / name), expected["anim_edit_out"], f"edited animation ({name})")


def test_image_edit(pngs: tuple[Path, Path], checkpoint: str, tmp_path: Path, expected: dict[str, np.ndarray],
                    fixture_config: dict[str, Any]) -> None:
    source, _ = pngs
    output = tmp_path / "edited.png"
    result = runner.invoke(app, ["edit", str(source), *edit_args(fixture_config, "img_edit"), "-o", str(output),
                                 "--checkpoint", checkpoint, "-q"])
    assert result.exit_code == 0, result.output
    assert_frames_close(read_image(output), expected["img_edit_out"][0], "image edit")


def test_image_edit_clip_normalisation_is_the_official_writers(pngs: tuple[Path, Path], checkpoint: str,
                                                               tmp_path: Path, expected: dict[str, np.ndarray],
                                                               fixture_config: dict[str, Any]) -> None:
    source, _ = pngs
    output = tmp_path / "edited.png"
    result = runner.invoke(app, ["edit", str(source), *edit_args(fixture_config, "img_edit"), "-o", str(output),
                                 "--checkpoint", checkpoint, "--normalize", "clip", "-q"])
    assert result.exit_code == 0, result.output
    official = np.clip(expected["img_edit_out"][0], -1, 1).transpose(1, 2, 0)
    stretched = ((official - official.min()) / (official.max() - official.min()) * 255).astype(np.int16)
    difference = np.abs(read_image(output).astype(np.int16) - stretched)
    assert difference.max() <= MAX_LEVELS and difference.mean() <= MEAN_LEVELS


def test_video_edit_rerenders_the_video_from_its_first_frame(pngs: tuple[Path, Path], checkpoint: str,
                                                             tmp_path: Path, expected: dict[str, np.ndarray],
                                                             fixture_config: dict[str, Any]) -> None:
    _, driving = pngs
    result = runner.invoke(app, ["edit", str(driving), *edit_args(fixture_config, "vid_edit"),
                                 "-o", f"{tmp_path}/out/", "--checkpoint", checkpoint, "--batch-size", "3", "-q"])
    assert result.exit_code == 0, result.output
    assert_frames_close(read_frames(tmp_path / "out"), expected["vid_edit_out"], "video edit")


def test_sweep_is_the_official_manipulation_video(pngs: tuple[Path, Path], checkpoint: str, tmp_path: Path,
                                                  expected: dict[str, np.ndarray]) -> None:
    source, _ = pngs
    # manipulation demo1: yaw and yaw2 at 0.4, one amplitude given by --sweep, one taken from --edit.
    result = runner.invoke(app, ["edit", str(source), "--sweep", "yaw=0.4", "--edit", "39=0.4", "--sweep", "yaw2",
                                 "-o", f"{tmp_path}/sweep/", "--checkpoint", checkpoint, "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    assert "wrote 64 frames of 64x64 at 12 fps" in result.output
    frames = read_frames(tmp_path / "sweep")
    assert len(frames) == 64
    assert_frames_close(frames[expected["manip_frame_index"]], expected["manip_out_frames"], "sweep frames")


def test_fp16_path_runs_on_cpu_and_stays_close(pngs: tuple[Path, Path], checkpoint: str, tmp_path: Path,
                                               expected: dict[str, np.ndarray]) -> None:
    source, driving = pngs
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{tmp_path}/out/", "--fp16",
                                 "--device", "cpu", "--checkpoint", checkpoint, "-q"])
    assert result.exit_code == 0, result.output
    frames = read_frames(tmp_path / "out").astype(np.int16)
    difference = np.abs(frames - to_uint8(expected["anim_plain_out"]).astype(np.int16))
    # Half-precision convolutions (measured: mean 0.03, max 3 grey levels); QR and warps stay float32.
    assert difference.mean() < FP16_MEAN_LEVELS and difference.max() <= FP16_MAX_LEVELS


@pytest.mark.parametrize(("args", "message"), [
    (["--edit", "smile=0.2"], "unknown motion direction 'smile'"),
    (["--edit", "yaw"], "expected DIRECTION=VALUE"),
    (["--edit", "yaw=much"], "'much' is not a number"),
    (["--edit", "40=0.1"], "motion direction 40 is out of range (0 … 39)"),
    (["--edit", "yaw=0.1", "--mode", "absolute"], "absolute mode does not use"),
])
def test_bad_edits_are_one_line_errors(pngs: tuple[Path, Path], checkpoint: str, tmp_path: Path, args: list[str],
                                       message: str) -> None:
    source, driving = pngs
    output = tmp_path / "out.mp4"
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", str(output), "--checkpoint", checkpoint,
                                 *args, "-q"])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not output.exists()


def test_families_without_directions_reject_edit(reference_dir: Path, pngs: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    source, driving = pngs
    fomm = reference_dir / "fomm" / "fixtures"
    output = tmp_path / "out.mp4"
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", str(output),
                                 "--checkpoint", str(fomm / "checkpoint.pth.tar"), "--config",
                                 str(fomm / "config.yaml"), "--edit", "yaw=0.1", "-q"])
    assert result.exit_code == 2
    assert result.output.strip() == ("animcli: error: fomm models have no editable motion directions (--edit needs a "
                                     "model with a motion dictionary of named directions, such as liax)")
    assert not output.exists()


def test_edit_usage_errors(pngs: tuple[Path, Path], checkpoint: str, tmp_path: Path) -> None:
    source, driving = pngs
    cases = [
        (["edit", str(source), "-o", str(tmp_path / "a.png")], "nothing to edit"),
        (["edit", str(driving), "--sweep", "yaw=0.3", "-o", str(tmp_path / "b.mp4")], "SOURCE is a video"),
        (["edit", str(source), "--sweep", "yaw", "-o", str(tmp_path / "c.mp4")], "give its amplitude"),
        (["edit", str(source), "--edit", "yaw=0.3", "-o", str(tmp_path / "d.mp4")], "an edited image is written as"),
        (["edit", "-", "--edit", "yaw=0.3", "-o", str(tmp_path / "e.mp4")], "reads SOURCE twice"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, "--checkpoint", checkpoint, "-q"])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_edit_as_a_real_process(pngs: tuple[Path, Path], checkpoint: str, tmp_path: Path) -> None:
    source, _ = pngs
    output = tmp_path / "edited.png"
    done = subprocess.run([sys.executable, "-m", "animcli", "edit", str(source), "--edit", "mouth=-0.3",
                           "--edit", "eyes=0.2", "--checkpoint", checkpoint, "-o", str(output), "--side-by-side"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote a 128x64 image to" in done.stderr  # the size written (source | edit)
    edited = read_image(output)
    assert edited.shape == (64, 128, 3)
    assert np.array_equal(edited[:, :64], read_image(source))  # source | edit
    assert np.abs(edited[:, 64:].astype(np.int16) - edited[:, :64]).mean() > 1


def test_find_best_frame_measures_motion_from_the_closest_driving_frame(pngs: tuple[Path, Path], checkpoint: str,
                                                                        tmp_path: Path) -> None:
    source, driving = pngs
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{tmp_path}/out/",
                                 "--checkpoint", checkpoint, "--find-best-frame"])
    assert result.exit_code == 0, result.output
    assert "relative to driving frame" in result.output
    assert len(read_frames(tmp_path / "out")) == len(list(driving.iterdir()))


def test_clip_normalisation_stretches_the_whole_animation(pngs: tuple[Path, Path], checkpoint: str, tmp_path: Path,
                                                          expected: dict[str, np.ndarray]) -> None:
    source, driving = pngs
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{tmp_path}/out/",
                                 "--checkpoint", checkpoint, "--normalize", "clip", "-q"])
    assert result.exit_code == 0, result.output
    official = np.clip(expected["anim_plain_out"], -1, 1).transpose(0, 2, 3, 1)
    stretched = ((official - official.min()) / (official.max() - official.min()) * 255).astype(np.int16)
    difference = np.abs(read_frames(tmp_path / "out").astype(np.int16) - stretched)
    assert difference.max() <= MAX_LEVELS and difference.mean() <= MEAN_LEVELS


def test_image_edit_at_a_larger_output_size(pngs: tuple[Path, Path], checkpoint: str, tmp_path: Path) -> None:
    source, _ = pngs
    output = tmp_path / "edited.png"
    result = runner.invoke(app, ["edit", str(source), "--edit", "pitch=0.3", "--output-size", "128",
                                 "--side-by-side", "-o", str(output), "--checkpoint", checkpoint, "-q"])
    assert result.exit_code == 0, result.output
    assert read_image(output).shape == (128, 256, 3)  # source | edit, each 128 px


def test_safetensors_conversion_of_the_plain_state_dict(pngs: tuple[Path, Path], checkpoint: str,
                                                        tmp_path: Path) -> None:
    source, _ = pngs
    converted = tmp_path / "lia-x.safetensors"
    convert = runner.invoke(app, ["models", "convert", checkpoint, str(converted)])
    assert convert.exit_code == 0, convert.output
    outputs = []
    for model in (checkpoint, str(converted)):
        output = tmp_path / f"{len(outputs)}.png"
        result = runner.invoke(app, ["edit", str(source), "--edit", "yaw=0.4", "--model", model, "-o", str(output),
                                     "-q"])
        assert result.exit_code == 0, result.output
        outputs.append(read_image(output))
    assert np.array_equal(outputs[0], outputs[1])
