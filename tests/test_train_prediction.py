"""`train --task prediction`: Monkey-Net's keypoint predictor trained on a trained model's keypoints."""

from __future__ import annotations

import re
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from test_train_tiny import tiny_dataset, tiny_monkeynet_config, write_config
from typer.testing import CliRunner

from animcli.cli import app, progress
from animcli.common.errors import ModelError
from animcli.models.monkeynet import MonkeyNetModel
from animcli.models.monkeynet.prediction import DEFAULT_PREDICTION_PARAMS
from animcli.train import TrainOptions, monkeynet_prediction, train
from animcli.train.loop import RESUME_KEY
from animcli.train.monkeynet_prediction import KeypointPredictorTrainer
from animcli.train.precision import Precision
from animcli.train.trainer import TrainContext
from animcli.weights.checkpoint_io import load_checkpoint_file
from animcli.weights.loading import load_model

runner = CliRunner()


def prediction_config(num_frames: int = 3) -> dict:
    config = tiny_monkeynet_config()
    config["prediction_params"] = {"rnn_params": {"num_features": 8, "num_layers": 1, "dropout": 0},
                                   "num_frames": num_frames, "batch_size": 2, "num_epochs": 5, "lr": 1e-2}
    return config


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_dataset(tmp_path_factory.mktemp("data"))  # 4 training videos of 4 frames


def trained_monkeynet(root: Path, config: dict) -> Path:
    """A Monkey-Net 'run directory' (seeded weights) with ``config``; returns its checkpoint."""
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(1)
    model = MonkeyNetModel(config)
    torch.save({"generator": model.generator.state_dict(), "kp_detector": model.kp_detector.state_dict()},
               root / "last.pth.tar")
    write_config(config, root / "config.yaml")
    return root / "last.pth.tar"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained Monkey-Net whose config carries prediction_params."""
    return trained_monkeynet(tmp_path_factory.mktemp("monkeynet"), prediction_config())


def options(trained: Path, data_root: Path, out: Path, **overrides) -> TrainOptions:
    settings = dict(model=str(trained), task="prediction", data=data_root, out=out,
                    checkpoint_every=100)
    settings.update(overrides)
    return TrainOptions(**settings)


def test_the_run_writes_a_monkeynet_checkpoint_with_its_predictor(trained: Path, data_root: Path,
                                                                  tmp_path: Path) -> None:
    result = train(options(trained, data_root, tmp_path / "run", max_steps=3))
    assert result.position.step == 3 and "prediction" in result.last_losses
    checkpoint = load_checkpoint_file(tmp_path / "run" / "last.pth.tar")
    start = load_checkpoint_file(trained)
    assert {"generator", "kp_detector", "predictor", "optimizer_predictor"} <= checkpoint.keys()
    for network in ("generator", "kp_detector"):  # carried over unchanged
        assert all(torch.equal(value, start[network][key]) for key, value in checkpoint[network].items())
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["prediction_params"].keys() == DEFAULT_PREDICTION_PARAMS.keys()
    model = load_model(tmp_path / "run" / "last.pth.tar", device="cpu")
    assert model.predictor is not None
    assert model.prediction_settings().num_frames == 3


def test_resumed_run_reaches_the_uninterrupted_predictor_bit_for_bit(trained: Path, data_root: Path,
                                                                     tmp_path: Path) -> None:
    # 4 videos at batch 2: 2 steps an epoch; stopping after step 1 interrupts an epoch whose mean loss the
    # plateau schedule needs at its end.
    train(options(trained, data_root, tmp_path / "straight", max_steps=4))
    train(options(trained, data_root, tmp_path / "split", max_steps=1))
    train(options(trained, data_root, tmp_path / "split", max_steps=4, resume=True))
    straight = load_checkpoint_file(tmp_path / "straight" / "last.pth.tar")
    split = load_checkpoint_file(tmp_path / "split" / "last.pth.tar")
    for key, value in straight["predictor"].items():
        assert torch.equal(value, split["predictor"][key]), key
    assert straight[RESUME_KEY]["schedulers"]["predictor"] == split[RESUME_KEY]["schedulers"]["predictor"]
    assert split[RESUME_KEY]["step"] == 4


def test_plateau_schedule_lowers_the_learning_rate(trained: Path, data_root: Path, tmp_path: Path) -> None:
    config = prediction_config()
    config["prediction_params"]["lr"] = 0  # no progress at all: every epoch is a plateau
    path = write_config(config, tmp_path / "config.yaml")
    train(options(trained, data_root, tmp_path / "run", config=str(path), max_steps=2 * 53))
    checkpoint = load_checkpoint_file(tmp_path / "run" / "last.pth.tar")
    # The first epoch sets the best loss; 50 more without improvement are tolerated, the 52nd is not.
    assert checkpoint["optimizer_predictor"]["param_groups"][0]["lr"] == 0


def test_all_training_videos_form_one_batch_when_fewer_than_the_batch_size(trained: Path, data_root: Path,
                                                                           tmp_path: Path) -> None:
    result = train(options(trained, data_root, tmp_path / "run", batch_size=256, max_steps=2))
    assert (result.position.step, result.position.epoch) == (2, 2)


def test_videos_shorter_than_the_window_are_one_line(trained: Path, data_root: Path, tmp_path: Path) -> None:
    path = write_config(prediction_config(num_frames=5), tmp_path / "config.yaml")
    result = runner.invoke(app, ["train", "--task", "prediction", "--model", str(trained), "--config", str(path),
                                 "--data", str(data_root), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "fewer than prediction_params.num_frames" in result.output


@pytest.mark.parametrize(("model", "message"), [
    ("fomm", "fomm models cannot be trained for --task prediction"),
    ("lia", "lia models cannot be trained for --task prediction"),
    ("monkeynet", "--task prediction starts from a trained model"),
])
def test_families_without_a_predictor_or_a_bare_family_are_rejected(model: str, message: str, data_root: Path,
                                                                     tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--task", "prediction", "--model", model, "--data", str(data_root),
                                 "--out", str(tmp_path / "run"), "--config", "fomm-shapes-64", "-q"])
    assert result.exit_code == 2 and result.output.startswith("animcli: error: ")
    assert message in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_a_trained_fomm_is_rejected_too(data_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="fomm models cannot be trained for --task prediction"):
        train(TrainOptions(model="demo", task="prediction", data=data_root, out=tmp_path / "run"))


class MeanColour(torch.nn.Module):
    """A stand-in detector: one keypoint per frame at the frame's mean colour (fast, no weights)."""

    def forward(self, video: torch.Tensor) -> dict[str, torch.Tensor]:
        mean = video.mean((1, 3, 4))[..., None, None].expand(-1, -1, 1, 2)  # B, T, 1, 2
        return {"mean": mean, "var": mean[..., None].expand(-1, -1, 1, 2, 2)}


def test_extraction_holds_one_video_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # tracemalloc sees numpy's allocations (the frames), not torch's: after each video's turn nothing of its
    # 1.5 MB of frames may remain, so memory after 40 videos is that after 10 plus only their keypoints.
    frames = np.random.default_rng(0).integers(0, 256, (32, 64, 64, 3), dtype=np.uint8)
    monkeypatch.setattr(monkeynet_prediction, "read_video", lambda path: frames.copy())
    videos = [Path(f"{index}.mp4") for index in range(40)]
    found = monkeynet_prediction.extract_keypoints(MeanColour(), videos, (64, 64), torch.device("cpu"))
    store = monkeynet_prediction.KeypointStore()
    tracemalloc.start()
    try:
        held = []
        for keypoints in found:
            store.append(keypoints)
            held.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert len(store) == 40 and store.frames(39) == 32
    assert max(held) < 1_000_000 and held[-1] - held[9] < 100_000  # one video's frames are 1.5 MB (float32: 6)
    window = store.window(39, 30, 2)
    assert window["mean"].shape == (2, 1, 2) and window["var"].shape == (2, 1, 2, 2)
    assert store.nbytes <= 2 * 1280 * 6 * 4  # grown by doubling: at most twice the 1,280 frames' 6 floats


def predictor_trainer(config: dict, time_limit_at: float | None) -> KeypointPredictorTrainer:
    context = TrainContext(device=torch.device("cpu"), precision=Precision("fp32", torch.device("cpu")),
                           parallel=lambda module: module, sync_batch_norm=lambda module: module,
                           time_limit_at=time_limit_at)
    return KeypointPredictorTrainer(KeypointPredictorTrainer.training_config(config), context)


def test_extraction_counts_in_the_time_limit_and_a_resume_extracts_the_same_videos(data_root: Path) -> None:
    config = prediction_config()
    trainer = predictor_trainer(config, time_limit_at=time.monotonic())  # the limit is already reached
    settings = trainer.data_settings(trainer.config)
    with pytest.warns(UserWarning, match=r"the predictor trains on the 1 of 4 training videos extracted"):
        assert len(trainer.training_data(data_root, settings)) == 1
    resumed = predictor_trainer(config, time_limit_at=time.monotonic())
    resumed.load(trainer.checkpoint(0, 0), trainer.scheduler_states())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(resumed.training_data(data_root, settings)) == 1


def test_extraction_shows_its_progress_with_an_eta(trained: Path, data_root: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "PLAIN_LINE_SECONDS", 0.0)
    result = runner.invoke(app, ["train", "--task", "prediction", "--model", str(trained), "--data",
                                 str(data_root), "--out", str(tmp_path / "run"), "--max-steps", "1"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "extracting keypoints" in line]
    assert [line.split(",")[0].rsplit(" ", 1)[1] for line in lines] == ["1/4", "2/4", "3/4", "4/4"]
    assert re.search(r", \d+\.\d/s, ETA 0:00:00$", lines[-1])
