"""`animcli train --model tpsmm` and `--task avd` through the training engine on a tiny config: an official
checkpoint that animate and eval load, an exact resume across the BG predictor's start, the AVD task."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_train_tiny import tiny_dataset, tiny_tpsmm_config, write_config
from typer.testing import CliRunner

from animcli.cli import app
from animcli.models.base import TransferOptions
from animcli.train import TrainOptions, train
from animcli.train.validation import reconstruction_l1
from animcli.weights.checkpoint_io import load_checkpoint_file
from animcli.weights.loading import load_model

pytestmark = pytest.mark.filterwarnings("ignore:training WITHOUT the VGG19")
runner = CliRunner()
NETWORKS = {"inpainting_network", "dense_motion_network", "kp_detector", "bg_predictor", "avd_network"}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_dataset(tmp_path_factory.mktemp("data"))


def options(data_root: Path, out: Path, **overrides) -> TrainOptions:
    settings = dict(model="tpsmm", data=data_root, out=out, perceptual="none", checkpoint_every=100,
                    sample_every=100)
    return TrainOptions(**{**settings, **overrides})


def networks(path: Path) -> dict[str, torch.Tensor]:
    checkpoint = load_checkpoint_file(path)
    return {f"{net}.{key}": value for net, state in checkpoint.items() if net in NETWORKS
            for key, value in state.items()}


def test_resumed_run_reaches_the_uninterrupted_weights_bit_for_bit(data_root: Path, tmp_path: Path,
                                                                   single_thread: None) -> None:
    config = str(write_config(tiny_tpsmm_config(), tmp_path / "tpsmm.yaml"))
    straight = train(options(data_root, tmp_path / "straight", config=config, max_steps=3))
    assert straight.position.step == 3 and straight.position.epoch == 1
    train(options(data_root, tmp_path / "split", config=config, max_steps=1))
    resumed = train(options(data_root, tmp_path / "split", resume=True, max_steps=3))
    assert resumed.position == straight.position
    expected, actual = (networks(tmp_path / run / "last.pth.tar") for run in ("straight", "split"))
    assert expected.keys() == actual.keys()
    for key, value in expected.items():
        assert torch.equal(value, actual[key]), key


def test_cli_run_then_avd_task_give_a_checkpoint_that_animates_and_evaluates(data_root: Path, tmp_path: Path,
                                                                             single_thread: None) -> None:
    out, avd_out = tmp_path / "run", tmp_path / "avd"
    config = str(write_config(tiny_tpsmm_config(), tmp_path / "tpsmm.yaml"))
    result = runner.invoke(app, ["train", "--model", "tpsmm", "--config", config, "--data", str(data_root),
                                 "--out", str(out), "--max-steps", "3", "--perceptual", "none", "--quiet"])
    assert result.exit_code == 0, result.output
    checkpoint = load_checkpoint_file(out / "last.pth.tar")
    assert {"inpainting_network", "dense_motion_network", "kp_detector", "bg_predictor", "optimizer",
            "optimizer_bg_predictor", "epoch"} <= checkpoint.keys()
    refused = runner.invoke(app, ["animate", str(data_root / "test"), str(data_root / "test"), "--checkpoint",
                                  str(out / "last.pth.tar"), "--mode", "avd", "-o", str(tmp_path / "x.mp4")])
    assert refused.exit_code == 2

    result = runner.invoke(app, ["train", "--task", "avd", "--model", str(out / "last.pth.tar"), "--data",
                                 str(data_root), "--out", str(avd_out), "--max-steps", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    trained = load_checkpoint_file(avd_out / "last.pth.tar")
    assert {"avd_network", "optimizer_avd", "kp_detector", "bg_predictor"} <= trained.keys()
    assert torch.equal(trained["inpainting_network"]["final.weight"], checkpoint["inpainting_network"]["final.weight"])
    model = load_model(avd_out / "last.pth.tar", avd_out / "config.yaml", device="cpu")
    assert model.validate_options(TransferOptions("avd")).mode == "avd"
    score = reconstruction_l1(model, data_root / "test")
    assert score.videos == 1 and 0 < score.model < 1
