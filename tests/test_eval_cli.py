"""`animcli eval` / `evaluate` end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from animcli.cli import app
from animcli.media import FrameDirWriter, read_image

runner = CliRunner()


@pytest.fixture(scope="module")
def shapes_test(shared_dir: Path) -> Path:
    return shared_dir / "datasets" / "shapes" / "test"


def strip_frames(path: Path) -> np.ndarray:
    strip = read_image(path)
    size = strip.shape[0]
    return strip.reshape(size, -1, size, 3).transpose(1, 0, 2, 3)


def write_frames(directory: Path, frames: np.ndarray) -> None:
    with FrameDirWriter(directory, 25.0) as writer:
        writer.write_many(frames)


def run_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_pred_gt_scores_frame_folders_against_strips(shapes_test: Path, tmp_path: Path) -> None:
    names = sorted(path.stem for path in shapes_test.iterdir())[:3]
    originals = [strip_frames(shapes_test / f"{name}.png") for name in names]
    brighter = np.minimum(originals[1].astype(np.int16) + 10, 255).astype(np.uint8)
    write_frames(tmp_path / "pred" / names[0], originals[0])
    write_frames(tmp_path / "pred" / names[1], brighter)
    write_frames(tmp_path / "pred" / names[2], originals[2])

    report = run_json("eval", "--pred", str(tmp_path / "pred"), "--gt", str(shapes_test), "--limit", "3",
                      "--metrics", "l1")

    assert [record["video"] for record in report["videos"]] == names
    l1 = [record["scores"]["l1"] for record in report["videos"]]
    expected = np.abs(brighter.astype(np.float64) - originals[1]).mean() / 255
    assert l1 == pytest.approx([0.0, expected, 0.0], abs=1e-7)
    assert report["overall"]["frames"] == sum(len(frames) for frames in originals)
    assert report["overall"]["scores"]["l1"] == pytest.approx(expected / 3, abs=1e-7)


def test_pred_gt_rejects_mismatched_videos(shapes_test: Path, tmp_path: Path) -> None:
    name = sorted(path.stem for path in shapes_test.iterdir())[0]
    write_frames(tmp_path / "pred" / name, strip_frames(shapes_test / f"{name}.png")[:-1])
    result = runner.invoke(app, ["eval", "--pred", str(tmp_path / "pred"), "--gt", str(shapes_test),
                                 "--limit", "1", "--metrics", "l1"])
    assert result.exit_code == 2
    assert "different frame counts" in result.stderr and "Traceback" not in result.output

    result = runner.invoke(app, ["eval", "--pred", str(tmp_path / "pred"), "--gt", str(shapes_test),
                                 "--limit", "2", "--metrics", "l1"])
    assert result.exit_code == 2 and "no prediction for 1 of the 2 videos" in result.stderr


@pytest.mark.parametrize("args", [[], ["--pred", "x"], ["--data", "x"], ["--data", "x", "--pred", "y", "--gt", "z"]])
def test_inconsistent_arguments_are_one_line_errors(args: list[str]) -> None:
    result = runner.invoke(app, ["eval", *args])
    assert result.exit_code == 2 and result.stderr.startswith("animcli: error:")


def test_reconstruction_of_shapes_end_to_end(reference_dir: Path, shapes_test: Path, tmp_path: Path) -> None:
    fixtures = reference_dir / "fomm" / "fixtures"
    out = tmp_path / "out"
    report = run_json("evaluate", "--checkpoint", str(fixtures / "checkpoint.pth.tar"),
                      "--config", str(fixtures / "config.yaml"), "--data", str(shapes_test), "--limit", "2",
                      "--out", str(out), "--metrics", "l1,mkr", "--device", "cpu", "--batch-size", "12")

    names = sorted(path.stem for path in shapes_test.iterdir())[:2]
    assert report["mode"] == "reconstruction" and report["family"] == "fomm"
    assert [record["video"] for record in report["videos"]] == names
    for record in report["videos"]:
        assert record["frames"] == 32 and 0 < record["scores"]["l1"] < 1
        assert record["scores"]["mkr"] is None  # no faces in shapes: undefined, not zero
        frames = sorted((out / "reconstruction" / record["video"]).iterdir())
        assert len(frames) == 32 and read_image(frames[0]).shape == (128, 128, 3)
    assert read_image(out / "distribution.png").shape[2] == 3

    # The written frames score the same when re-read (they differ only by rounding to uint8).
    rescored = run_json("eval", "--pred", str(out / "reconstruction"), "--gt", str(shapes_test), "--limit", "2",
                        "--metrics", "l1", "--resize-gt")
    for original, again in zip(report["videos"], rescored["videos"], strict=True):
        assert again["scores"]["l1"] == pytest.approx(original["scores"]["l1"], abs=0.5 / 255)


def test_eval_of_a_checkpoint_trained_by_animcli_train(shared_dir: Path, shapes_test: Path, tmp_path: Path) -> None:
    from test_train_tiny import tiny_fomm_config, write_config

    run = tmp_path / "run"
    trained = runner.invoke(app, ["train", "--model", "fomm", "--config",
                                  str(write_config(tiny_fomm_config(), tmp_path / "tiny.yaml")),
                                  "--data", str(shared_dir / "datasets" / "shapes"), "--out", str(run),
                                  "--max-steps", "2", "--perceptual", "none", "--quiet"])
    assert trained.exit_code == 0, trained.output
    report = run_json("eval", "--checkpoint", str(run / "last.pth.tar"), "--config", str(run / "config.yaml"),
                      "--data", str(shapes_test), "--limit", "3", "--metrics", "l1")
    assert len(report["videos"]) == 3 and all(record["frames"] == 32 for record in report["videos"])
    overall = report["overall"]["scores"]["l1"]
    assert overall == pytest.approx(np.mean([record["scores"]["l1"] for record in report["videos"]]), rel=1e-6)


def test_face_metrics_without_faces_say_why(shapes_test: Path, tmp_path: Path) -> None:
    from animcli.crop.faces import dlib_available

    if not dlib_available():
        pytest.skip("the faces extra (dlib) is not installed")
    name = sorted(path.stem for path in shapes_test.iterdir())[0]
    write_frames(tmp_path / "pred" / name, strip_frames(shapes_test / f"{name}.png"))
    arguments = ["eval", "--pred", str(tmp_path / "pred"), "--gt", str(shapes_test), "--limit", "1",
                 "--metrics", "l1,akd,mkr"]

    report = run_json(*arguments)

    no_face_in_both = "no frame with a face found in both the original and the reconstruction"
    assert report["overall"]["scores"]["akd"] is None and report["overall"]["scores"]["l1"] == 0.0
    assert report["overall"]["unscored"] == {"akd": no_face_in_both, "mkr": "no original frame with a face found"}
    assert report["videos"][0]["unscored"] == report["overall"]["unscored"]
    table = runner.invoke(app, arguments)
    assert table.exit_code == 0, table.output
    assert f"AKD –: {no_face_in_both}" in table.stderr and "MKR –: no original frame with a face found" in table.stderr
    # The JSON's MKR description and the eval docs say the same thing.
    readme = " ".join((Path(__file__).parents[1] / "docs" / "eval.md").read_text().split())
    assert "the share of frames with a face in the original but none in the reconstruction" in readme
    assert report["metrics"]["mkr"]["description"].endswith(
        "the share of frames with a face in the original but none in the reconstruction)")
