"""TPSMM training against one step of the official train.py and train_avd.py (tpsmm_train.npz): the four loss
terms from the recorded random draws, the networks after the Adam step (weight decay, ∞-norm clipping), the
BatchNorm statistics, the checkpoint's keys; and the AVD step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_tpsmm_parity as parity
import torch
from helpers import assert_close
from torch import nn

from animcli.models.configs import resolve_config
from animcli.models.tpsmm import config_for_checkpoint
from animcli.train import tpsmm as training
from animcli.train.losses import PerceptualLoss
from animcli.train.precision import Precision
from animcli.train.trainer import TrainContext
from animcli.train.vgg import Vgg19Features

CPU = torch.device("cpu")


fixtures = parity.fixtures
checkpoint = parity.checkpoint


@pytest.fixture(scope="module")
def recorded(fixtures: Path) -> dict[str, np.ndarray]:
    return dict(np.load(fixtures / "tpsmm_train.npz"))


@pytest.fixture(scope="module")
def config(fixtures: Path, checkpoint: dict[str, Any]) -> dict[str, Any]:
    return config_for_checkpoint(resolve_config(fixtures / "config.yaml"), checkpoint)


def context() -> TrainContext:
    return TrainContext(device=CPU, precision=Precision("fp32", CPU), parallel=lambda module: module,
                        sync_batch_norm=lambda module: module, perceptual="none")


def stub_vgg(fixtures: Path, widths: list[int]) -> Vgg19Features:
    """torchvision's VGG-19 feature layout at the fixture's reduced widths, with the fixture's weights."""
    vgg = Vgg19Features()
    width = iter(widths)
    widths_by_original = {64: next(width), 128: next(width), 256: next(width), 512: next(width)}
    layers: list[nn.Module] = []
    channels = 3
    for index, layer in enumerate(vgg.features):
        if isinstance(layer, nn.Conv2d):
            out = widths[4] if index == 28 else widths_by_original[layer.out_channels]
            layer = nn.Conv2d(channels, out, kernel_size=3, padding=1)
            channels = out
        layers.append(layer)
    vgg.features = nn.Sequential(*layers)
    state = torch.load(fixtures / "vgg19_stub.pt", weights_only=True)
    vgg.features.load_state_dict({key: value for key, value in state.items() if int(key.split(".")[0]) < 30})
    return vgg.requires_grad_(False)


@pytest.fixture
def recorded_draws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[tuple[int, ...], torch.Tensor]]:
    """torch.rand / torch.normal answer with the official run's recorded draws, by the shape asked for."""
    draws: dict[tuple[int, ...], torch.Tensor] = {}
    rand, normal = torch.rand, torch.normal

    def recorded_rand(*size: Any, **kwargs: Any) -> torch.Tensor:
        shape = tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else tuple(size)
        return draws[shape].clone() if shape in draws else rand(*size, **kwargs)

    def recorded_normal(mean: Any, std: Any, size: Any = None, **kwargs: Any) -> torch.Tensor:
        if size is not None and tuple(size) in draws:
            return draws[tuple(size)].clone()
        return normal(mean, std, size, **kwargs)

    monkeypatch.setattr(torch, "rand", recorded_rand)
    monkeypatch.setattr(torch, "normal", recorded_normal)
    yield draws


def batch(recorded: dict[str, np.ndarray], pairs: str, order: str) -> tuple[torch.Tensor, torch.Tensor]:
    frames = torch.from_numpy(recorded["train_frames"])
    chosen = recorded[pairs][recorded[order]]
    return frames[chosen[:, 0]], frames[chosen[:, 1]]


def assert_adam_step_close(actual: torch.Tensor, expected: np.ndarray, lr: float, name: str) -> None:
    """Within 1e-6 (fixtures/README.md), except a few elements whose gradient is as small as float32 rounding
    of the rest of the network allows: Adam's first step is ±lr whatever the gradient's size, so such an element
    may step the other way (measured: 10 of 49,588 dense maps.weight elements, |gradient| 3e-5 against a median
    of 0.015)."""
    difference = np.abs(actual.detach().numpy().astype(np.float64) - expected.astype(np.float64))
    flipped = difference > 1e-6
    assert flipped.mean() <= 1e-3 and difference.max() <= 2 * lr * 1.01, \
        f"{name}: {flipped.sum()} elements off by up to {difference.max():.3g}"


def test_one_official_training_step(fixtures: Path, recorded: dict[str, np.ndarray], checkpoint: dict[str, Any],
                                    config: dict[str, Any], recorded_draws: dict, single_thread: None) -> None:
    with pytest.warns(UserWarning, match="WITHOUT the VGG19"):
        trainer = training.TpsmmTrainer(config, context())
    params = config["train_params"]
    trainer.full_model.perceptual = PerceptualLoss(params["scales"], params["loss_weights"]["perceptual"],
                                                   stub_vgg(fixtures, config["model_params"]["fixture_widths"]
                                                            ["vgg19_features"]))
    trainer.initialize(checkpoint)
    trainer.train_mode()
    for scheduler in trainer.schedulers.values():
        scheduler.last_epoch = int(recorded["epoch"])
    assert training.dropout_probability(params, trainer.epoch) == pytest.approx(float(recorded["dropout_p"]))
    recorded_draws[(2, 11)] = torch.from_numpy(recorded["dropout_rand"])
    recorded_draws[(2, 2, 3)] = torch.from_numpy(recorded["tps_random_theta_noise"])
    recorded_draws[(2, 1, 25)] = torch.from_numpy(recorded["tps_random_control_params"])

    losses = trainer.train_step(*batch(recorded, "train_pairs", "batch_pair_index"))

    assert list(losses) == list(recorded["loss_names_in_order"])
    assert losses["perceptual"] == pytest.approx(float(recorded["loss_perceptual"]), rel=1e-4)
    assert losses["warp_loss"] == pytest.approx(float(recorded["loss_warp_loss"]), rel=1e-4)
    assert losses["equivariance_value"] == pytest.approx(float(recorded["loss_equivariance_value"]), abs=1e-5)
    assert losses["bg"] == pytest.approx(float(recorded["loss_bg"]), abs=1e-5)
    prefix = "after_step."
    lr = float(params["lr_generator"])
    for key in (key for key in recorded if key.startswith(prefix) and key != "after_step.optimizer_lr"):
        network, name = key[len(prefix):].split(".", 1)
        assert_adam_step_close(trainer.networks[network].state_dict()[name], recorded[key], lr, key)
    assert trainer.learning_rates()["optimizer"] == pytest.approx(float(recorded["after_step.optimizer_lr"]))
    saved = trainer.checkpoint(int(recorded["epoch"]), 1)
    assert sorted(key for key in saved if key != "epoch") == sorted(recorded["saved_keys"])


def test_one_official_avd_step(recorded: dict[str, np.ndarray], checkpoint: dict[str, Any], config: dict[str, Any],
                               recorded_draws: dict, single_thread: None) -> None:
    trainer = training.AvdTrainer.for_task("avd")(config, context())
    trainer.initialize(checkpoint)
    trainer.train_mode()
    recorded_draws[(6, 2)] = torch.from_numpy(recorded["avd_train_random_scale_rand"])
    losses = trainer.train_step(*batch(recorded, "avd_train_pairs", "avd_train_batch_pair_index"))
    assert losses["rec_kp"] == pytest.approx(float(recorded["avd_train_loss_rec_kp"]), abs=1e-5)
    prefix = "avd_train_after_step."
    for key in (key for key in recorded if key.startswith(prefix)):
        network, name = key[len(prefix):].split(".", 1)
        # Linear biases before train-mode BatchNorm get rounding-noise gradients: fixtures/README.md's 2e-3.
        assert_close(trainer.networks[network].state_dict()[name], recorded[key], 2e-3, key)
    saved = trainer.checkpoint(0, 1)
    assert sorted(key for key in saved if key != "epoch") == sorted(recorded["avd_train_saved_keys"])
