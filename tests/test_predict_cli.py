"""`animcli predict` and `animcli eval --task prediction` with the Monkey-Net fixture networks and the official
predictor fixture combined into one checkpoint (the `predictor` entry)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from animcli.cli import app
from animcli.inference.animator import Animator
from animcli.media import open_video, read_image, write_image
from animcli.models.monkeynet.prediction import KeypointPredictor
from animcli.weights.loading import load_model
from animcli.weights.publishing import convert_checkpoint

runner = CliRunner()
FRAMES = 3


def read_frames(path: Path) -> np.ndarray:
    with open_video(path) as frames:
        return np.stack(list(frames))


def predict(model_dir: Path, output: str, *options: str, checkpoint: str = "checkpoint.pth.tar") -> object:
    return runner.invoke(app, ["predict", str(model_dir / "source.png"), "-o", output,
                               "--checkpoint", str(model_dir / checkpoint), "--device", "cpu", "-q", *options])


def test_predict_writes_frames_of_the_predicted_motion(model_dir: Path, tmp_path: Path) -> None:
    result = predict(model_dir, f"{tmp_path}/frames/", "--frames", str(FRAMES), "--batch-size", "2",
                     "--backend", "torch")
    assert result.exit_code == 0, result.output
    frames = read_frames(tmp_path / "frames")
    assert frames.shape == (FRAMES, 64, 64, 3)
    assert np.abs(frames[1:].astype(int) - frames[0]).max() > 0  # the prediction moves

    model = load_model(model_dir / "checkpoint.pth.tar", device="cpu")
    batches = list(Animator(model, batch_size=2).predict(read_image(model_dir / "source.png"), FRAMES))
    assert np.array_equal(np.concatenate([b.prediction_uint8 for b in batches]), frames)


def test_onnxruntime_backend_predicts_the_same_frames(model_dir: Path, tmp_path: Path) -> None:
    written = {}
    for backend in ("torch", "onnxruntime"):
        result = predict(model_dir, f"{tmp_path}/{backend}/", "--frames", str(FRAMES), "--backend", backend,
                         "--threads", "1")
        assert result.exit_code == 0, result.output
        written[backend] = read_frames(tmp_path / backend).astype(int)
    assert written["torch"].shape == (FRAMES, 64, 64, 3)
    assert np.abs(written["torch"] - written["onnxruntime"]).max() <= 1


def test_default_length_is_the_trained_one_and_keypoints_can_be_drawn(model_dir: Path, tmp_path: Path) -> None:
    assert predict(model_dir, f"{tmp_path}/plain/").exit_code == 0
    assert predict(model_dir, f"{tmp_path}/kp/", "--show-keypoints").exit_code == 0
    plain, drawn = read_frames(tmp_path / "plain"), read_frames(tmp_path / "kp")
    assert len(plain) == 4 and plain.shape == drawn.shape and not np.array_equal(plain, drawn)


def test_init_clip_supplies_the_observed_motion(model_dir: Path, tmp_path: Path) -> None:
    own = predict(model_dir, f"{tmp_path}/own/", "--frames", "3")
    from_clip = predict(model_dir, f"{tmp_path}/clip/", "--frames", "3", "--init", str(model_dir / "clip"))
    assert own.exit_code == 0 and from_clip.exit_code == 0, from_clip.output
    assert not np.array_equal(read_frames(tmp_path / "own"), read_frames(tmp_path / "clip"))


def test_video_file_output_and_fps(model_dir: Path, tmp_path: Path) -> None:
    result = predict(model_dir, str(tmp_path / "out.mp4"), "--frames", "4", "--fps", "10")
    assert result.exit_code == 0, result.output
    with open_video(tmp_path / "out.mp4") as video:
        assert video.fps == pytest.approx(10) and len(list(video)) == 4


def test_fp16_on_cpu_stays_close_to_fp32(model_dir: Path, tmp_path: Path) -> None:
    assert predict(model_dir, f"{tmp_path}/fp32/", "--frames", "3").exit_code == 0
    assert predict(model_dir, f"{tmp_path}/fp16/", "--frames", "3", "--fp16").exit_code == 0
    difference = np.abs(read_frames(tmp_path / "fp32").astype(int) - read_frames(tmp_path / "fp16"))
    assert difference.mean() < 2


def test_checkpoint_without_predictor_is_one_line_and_writes_nothing(model_dir: Path, reference_dir: Path,
                                                                     tmp_path: Path) -> None:
    fixtures = reference_dir / "monkeynet" / "fixtures"
    result = runner.invoke(app, ["predict", str(model_dir / "source.png"), "-o", str(tmp_path / "out.mp4"),
                                 "--checkpoint", str(fixtures / "checkpoint.pth.tar"),
                                 "--config", str(fixtures / "config.yaml"), "--device", "cpu", "-q"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "no 'predictor' entry" in result.output
    assert not any(tmp_path.iterdir())
    other_family = runner.invoke(app, ["predict", str(model_dir / "source.png"), "-o", str(tmp_path / "o.mp4"),
                                       "--model", "demo", "-q"])
    assert other_family.exit_code == 2 and "cannot generate a video from a still image" in other_family.output


def test_the_checkpoint_still_animates_and_converts_with_its_predictor(model_dir: Path, reference_dir: Path,
                                                                        tmp_path: Path) -> None:
    fixtures = reference_dir / "monkeynet" / "fixtures"
    animate = ["animate", str(model_dir / "source.png"), str(model_dir / "clip"), "--device", "cpu", "-q"]
    with_predictor = runner.invoke(app, [*animate, "-o", f"{tmp_path}/a/", "--checkpoint",
                                         str(model_dir / "checkpoint.pth.tar")])
    without = runner.invoke(app, [*animate, "-o", f"{tmp_path}/b/", "--checkpoint",
                                  str(fixtures / "checkpoint.pth.tar"), "--config", str(fixtures / "config.yaml")])
    assert with_predictor.exit_code == 0 and without.exit_code == 0, with_predictor.output
    assert np.array_equal(read_frames(tmp_path / "a"), read_frames(tmp_path / "b"))

    header = convert_checkpoint(model_dir / "checkpoint.pth.tar", tmp_path / "model.safetensors",
                                model_dir / "config.yaml")
    assert header.config["prediction_params"]["init_frames"] == 1
    assert predict(model_dir, f"{tmp_path}/pth/", "--frames", "3").exit_code == 0
    converted = runner.invoke(app, ["predict", str(model_dir / "source.png"), "-o", f"{tmp_path}/st/",
                                    "--model", str(tmp_path / "model.safetensors"), "--frames", "3", "-q"])
    assert converted.exit_code == 0, converted.output
    assert np.array_equal(read_frames(tmp_path / "pth"), read_frames(tmp_path / "st"))


def test_predictor_size_comes_from_the_checkpoint_when_the_config_has_no_prediction_params(
        model_dir: Path, reference_dir: Path) -> None:
    model = load_model(model_dir / "checkpoint.pth.tar", reference_dir / "monkeynet" / "fixtures" / "config.yaml",
                       device="cpu")
    assert isinstance(model.predictor, KeypointPredictor) and model.predictor.rnn.hidden_size == 48


def test_eval_prediction_scores_clips_generated_from_their_first_frame(model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "test"
    clip = read_frames(model_dir / "clip")
    write_image(data / "clip.png", np.concatenate([*clip, *clip[:2]], axis=1))  # a png strip of 6 frames
    result = runner.invoke(app, ["eval", "--task", "prediction", "--checkpoint", str(model_dir / "checkpoint.pth.tar"),
                                 "--data", str(data), "--metrics", "l1", "--json", "--device", "cpu", "-q",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    predicted = read_frames(tmp_path / "out" / "prediction" / "clip")
    assert predicted.shape == clip.shape  # the first num_frames (4) frames of the clip
    model = load_model(model_dir / "checkpoint.pth.tar", device="cpu")
    batches = list(Animator(model, batch_size=8).predict(clip[0], len(clip), clip[:1]))
    expected = np.abs(np.concatenate([b.prediction for b in batches]) - clip / 255.0).mean()
    assert report["overall"]["scores"]["l1"] == pytest.approx(expected, rel=1e-6)
