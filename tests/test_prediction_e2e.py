"""End to end on the shared shapes dataset: a tiny Monkey-Net, its keypoint predictor trained on the training
videos' keypoints, then `animcli predict` (a real subprocess) turning one still frame into a moving video."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_tiny import FRAME, tiny_monkeynet_config, write_config

from animcli.evaluation.videos import open_frames
from animcli.inference.animator import Animator
from animcli.media import open_video, write_image
from animcli.train import TrainOptions, train
from animcli.weights.loading import load_model

MONKEYNET_STEPS = 60
PREDICTED_FRAMES = 12


@pytest.fixture(scope="module")
def shapes(shared_dir: Path) -> Path:
    return shared_dir / "datasets" / "shapes"


@pytest.fixture(scope="module")
def predictor_run(shapes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    config = tiny_monkeynet_config()
    config["train_params"].update(batch_size=4, lr=2e-3)
    config["prediction_params"] = {"rnn_params": {"num_features": 32, "num_layers": 1, "dropout": 0},
                                   "num_frames": PREDICTED_FRAMES, "init_frames": 1, "batch_size": 32,
                                   "num_epochs": 150, "lr": 3e-3, "train_size": 31, "predict_variance": False}
    write_config(config, root / "config.yaml")
    common = dict(data=shapes, checkpoint_every=1000, log_every=25)
    # One thread: these tiny 3-D convolutions run ~50x slower with two threads on a busy 2-core machine (measured).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainOptions(model="monkeynet", config=str(root / "config.yaml"), out=root / "monkeynet",
                           max_steps=MONKEYNET_STEPS, **common))
        train(TrainOptions(model=str(root / "monkeynet" / "last.pth.tar"), task="prediction",
                           out=root / "predictor", **common))
    finally:
        torch.set_num_threads(threads)
    return root / "predictor"


def test_a_predictor_trained_on_shapes_animates_a_single_image(predictor_run: Path, shapes: Path,
                                                               tmp_path: Path) -> None:
    log = (predictor_run / "log.jsonl").read_text().splitlines()
    losses = [json.loads(line)["losses"]["prediction"] for line in log]
    assert len(losses) == 6 and losses[-1] < 0.8 * losses[0]  # 150 epochs of one batch, logged every 25

    with open_frames(sorted((shapes / "test").iterdir())[0]) as frames:
        still = next(frames)
    write_image(tmp_path / "still.png", still)
    command = [sys.executable, "-m", "animcli", "predict", str(tmp_path / "still.png"), "-o", f"{tmp_path}/out/",
               "--checkpoint", str(predictor_run / "last.pth.tar"), "--device", "cpu", "--batch-size", "4"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert f"wrote {PREDICTED_FRAMES} frames" in completed.stderr
    with open_video(tmp_path / "out") as video:
        frames = np.stack(list(video)).astype(np.int16)
    assert frames.shape == (PREDICTED_FRAMES, FRAME, FRAME, 3)
    # It moves: the predicted keypoints leave the source's, and the rendered frames change with them. (A model
    # trained for seconds moves little and not necessarily like the shapes do; the README's figure shows a
    # model trained longer.)
    model = load_model(predictor_run / "last.pth.tar", device="cpu")
    keypoints = np.concatenate([batch.kp_driving for batch in Animator(model).predict(still, PREDICTED_FRAMES)])
    assert np.abs(keypoints[1:] - keypoints[0]).max() > 1e-3
    assert np.abs(frames[1:] - frames[0]).max() >= 2
