"""Hostile input through the CLI: every failure is one `animcli: error:` line with its documented exit code,
and inputs and earlier outputs stay byte-identical (issue: reliability)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from helpers import invoke, moving_square, write_moving_square

from animcli.media import write_image, write_video
from animcli.models.configs import resolve_config

DEMO = ["--model", "demo", "--device", "cpu", "--quiet"]


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    return write_moving_square(tmp_path, 4)


def assert_one_line_error(result, code: int, fragment: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = [line for line in result.output.splitlines() if line.startswith("animcli: error:")]
    assert len(lines) == 1 and fragment in lines[0], result.output
    assert "Traceback" not in result.output


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- A: unreadable images --------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_zero_byte_source_image_is_one_line(inputs, tmp_path: Path, suffix: str) -> None:
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    result = invoke("animate", empty, inputs[1], "-o", tmp_path / "out.mp4", *DEMO)
    assert_one_line_error(result, 2, "empty file")
    assert not (tmp_path / "out.mp4").exists()


def test_broken_frame_in_driving_folder_and_crop_input(inputs, tmp_path: Path) -> None:
    folder = tmp_path / "driving"
    write_video(folder, moving_square(4), fps=10)
    (folder / "000002.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = invoke("animate", inputs[0], folder, "-o", tmp_path / "out.mp4", *DEMO)
    assert_one_line_error(result, 2, "000002.png: not a readable image")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["driving", "driving.mp4", "source.png"]
    empty = tmp_path / "face.jpg"
    empty.write_bytes(b"")
    assert_one_line_error(invoke("crop", empty, "-o", tmp_path / "crop.png"), 2, "face.jpg: not a readable image")


# -- C: config gaps ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("edit", "fragment"), [
    (lambda c: c["model_params"].pop("kp_detector_params"), "no 'model_params.kp_detector_params' section"),
    (lambda c: c["model_params"]["generator_params"].update(bogus=1), "unexpected key 'bogus'"),
    (lambda c: c["model_params"]["kp_detector_params"].pop("num_blocks"), "lacks key 'num_blocks'"),
])
def test_config_gaps_name_the_key(inputs, tmp_path: Path, edit, fragment: str) -> None:
    config = resolve_config("fomm-demo-64")
    edit(config)
    config_path = tmp_path / "broken.yaml"
    config_path.write_text(yaml.safe_dump(config))
    checkpoint = Path(__file__).resolve().parents[1] / "checkpoints" / "demo" / "demo.safetensors"
    result = invoke("animate", inputs[0], inputs[1], "-o", tmp_path / "out.mp4", "--checkpoint", checkpoint,
                    "--config", config_path, "--device", "cpu", "-q")
    assert_one_line_error(result, 2, fragment)


# -- D, E: outputs that would destroy data -----------------------------------------------------------------------

def test_output_under_a_regular_file(inputs, tmp_path: Path) -> None:
    result = invoke("animate", *inputs, "-o", inputs[0] / "out.mp4", *DEMO)
    assert_one_line_error(result, 2, "is a file, not a folder")


@pytest.mark.parametrize("alias", ["same", "symlink", "hardlink"])
def test_output_that_is_an_input_is_refused(inputs, tmp_path: Path, alias: str) -> None:
    driving = inputs[1]
    target = {"same": lambda: driving, "symlink": lambda: tmp_path / "link.mp4",
              "hardlink": lambda: tmp_path / "hard.mp4"}[alias]()
    if alias == "symlink":
        target.symlink_to(driving)
    if alias == "hardlink":
        os.link(driving, target)
    before = snapshot(tmp_path)
    result = invoke("animate", inputs[0], driving, "-o", target, *DEMO)
    assert_one_line_error(result, 2, "is an input of this run")
    assert snapshot(tmp_path) == before


def test_non_empty_output_folder_needs_overwrite_and_is_then_replaced_whole(inputs, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "000000.png").write_bytes(b"old frame")
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    assert_one_line_error(invoke("animate", *inputs, "-o", out, *DEMO), 2, "--overwrite")
    assert snapshot(out) == before
    result = invoke("animate", *inputs, "-o", out, "--overwrite", *DEMO)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(4)]


def test_folder_holding_an_input_is_never_replaced(tmp_path: Path) -> None:
    write_image(tmp_path / "source.png", moving_square(1)[0])
    write_video(tmp_path / "driving.mp4", moving_square(4), fps=10)
    before = snapshot(tmp_path)
    result = invoke("animate", tmp_path / "source.png", tmp_path / "driving.mp4", "-o", tmp_path, "--overwrite",
                    *DEMO)
    assert_one_line_error(result, 2, "holds an input of this run")
    assert snapshot(tmp_path) == before


# -- F: bad input silently accepted ------------------------------------------------------------------------------

def test_crop_box_outside_the_image(inputs, tmp_path: Path) -> None:
    result = invoke("crop", inputs[0], "-o", tmp_path / "crop.png", "--box", "500,500,20,20")
    assert_one_line_error(result, 2, "lies outside the 64x64 frame")
    assert not (tmp_path / "crop.png").exists()


def test_eval_refuses_mismatched_sizes_and_empty_metric_lists(tmp_path: Path) -> None:
    write_video(tmp_path / "pred" / "clip", moving_square(3, 64), fps=10)
    write_video(tmp_path / "gt" / "clip", moving_square(3, 32), fps=10)
    result = invoke("eval", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt", "-q")
    assert_one_line_error(result, 2, "64x64 but the original's are 32x32")
    resized = invoke("eval", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt", "-q", "--resize-gt")
    assert resized.exit_code == 0, resized.output
    result = invoke("eval", "--pred", tmp_path / "pred", "--gt", tmp_path / "pred", "--metrics", ",", "-q")
    assert_one_line_error(result, 2, "names no metric")


def test_infinite_fps_is_refused_before_any_work(inputs, tmp_path: Path) -> None:
    result = invoke("animate", *inputs, "-o", tmp_path / "out.mp4", "--fps", "inf", *DEMO)
    assert_one_line_error(result, 2, "frame rate must be a positive number")


# -- G and messages ----------------------------------------------------------------------------------------------

def test_failed_train_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty-data").mkdir()
    out = tmp_path / "run"
    result = invoke("train", "--model", "fomm", "--config", "fomm-demo-64", "--data", tmp_path / "empty-data",
                    "--out", out, "--perceptual", "none", "--device", "cpu", "-q")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert not out.exists()


def test_directory_as_checkpoint_says_so(inputs, tmp_path: Path) -> None:
    result = invoke("animate", *inputs, "-o", tmp_path / "out.mp4", "--checkpoint", tmp_path,
                    "--config", "fomm-demo-64", "--device", "cpu")
    assert_one_line_error(result, 2, "is a folder, not a checkpoint file")


def test_unexpected_errors_are_one_line_unless_debugging(inputs, tmp_path: Path, monkeypatch) -> None:
    import animcli.workflows.animate_files

    def explode(*args, **kwargs):
        raise RuntimeError("kaboom\nsecond line")

    monkeypatch.setattr(animcli.workflows.animate_files, "animate_files", explode)
    result = invoke("animate", *inputs, "-o", tmp_path / "out.mp4", *DEMO)
    assert_one_line_error(result, 1, "unexpected RuntimeError: kaboom (set ANIMCLI_DEBUG=1")
    monkeypatch.setenv("ANIMCLI_DEBUG", "1")
    result = invoke("animate", *inputs, "-o", tmp_path / "o.mp4", *DEMO)
    assert result.exit_code == 1
    assert "Traceback" in result.output and "animcli: error: unexpected RuntimeError" in result.output


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_code_running_pickle_is_refused_in_one_short_line(inputs, tmp_path: Path) -> None:
    import torch

    torch.save({"generator": _RunsCode()}, tmp_path / "evil.pth.tar")
    result = invoke("animate", *inputs, "-o", tmp_path / "out.mp4", "--checkpoint", tmp_path / "evil.pth.tar",
                    "--config", "fomm-demo-64", "--device", "cpu")
    assert_one_line_error(result, 2, "refusing to load checkpoint")
    assert "system" in result.output and "PyTorch 2.6" not in result.output and "should-never-run" not in result.output


def test_resumed_training_updates_its_own_checkpoint(tmp_path: Path, shared_dir: Path) -> None:
    """Input protection must not stop a resumed run from saving over the checkpoint it resumed from."""
    from test_train_tiny import tiny_dataset, tiny_fomm_config, write_config

    data = tiny_dataset(tmp_path / "data")
    config = write_config(tiny_fomm_config(), tmp_path / "tiny.yaml")
    common = ["--model", "fomm", "--data", data, "--out", tmp_path / "run", "--perceptual", "none",
              "--device", "cpu", "-q"]
    assert invoke("train", *common, "--config", config, "--max-steps", "1").exit_code == 0
    result = invoke("train", *common, "--resume", "--max-steps", "2")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "last.pth.tar").is_file()
