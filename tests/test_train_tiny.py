"""Tiny configs and datasets shared by the training tests (a few steps must take seconds on a CPU)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from animcli.data.synth import write_synth_dataset
from animcli.models.configs import resolve_config

FRAME = 32


def tiny_fomm_config(generator_gan: float = 0) -> dict[str, Any]:
    config = copy.deepcopy(resolve_config("fomm-shapes-64"))
    config["dataset_params"]["frame_shape"] = [FRAME, FRAME, 3]
    model = config["model_params"]
    model["common_params"]["num_kp"] = 2
    for section in (model["kp_detector_params"], model["generator_params"],
                    model["generator_params"]["dense_motion_params"], model["discriminator_params"]):
        section.update(block_expansion=4, max_features=16)
    model["kp_detector_params"]["num_blocks"] = 2
    model["generator_params"]["dense_motion_params"]["num_blocks"] = 2
    model["generator_params"]["num_bottleneck_blocks"] = 1
    model["discriminator_params"].update(use_kp=True, num_blocks=2)
    train = config["train_params"]
    train.update(batch_size=2, num_epochs=3, epoch_milestones=[1])
    train["loss_weights"]["generator_gan"] = generator_gan
    return config


def write_config(config: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def tiny_dataset(root: Path, videos: int = 5, frames: int = 4) -> Path:
    write_synth_dataset(root, videos, size=FRAME, num_frames=frames, seed=1, test_fraction=0.2)
    return root


def tiny_lia_config() -> dict[str, Any]:
    config = copy.deepcopy(resolve_config("lia-shapes-64"))
    config.update(size=FRAME, style_dim=16, direction_rows=16, motion_dim=4,
                  channels={"4": 16, "8": 16, "16": 8, "32": 8})
    config["train_params"].update(batch_size=2, num_epochs=3)
    return config


def tiny_monkeynet_config() -> dict[str, Any]:
    config = copy.deepcopy(resolve_config("monkeynet-shapes-64"))
    config["dataset_params"]["image_shape"] = [FRAME, FRAME, 3]
    config["dataset_params"]["augmentation_params"]["crop_param"]["size"] = [FRAME, FRAME]
    model = config["model_params"]
    model["common_params"]["num_kp"] = 2
    for section in (model["kp_detector_params"], model["generator_params"],
                    model["generator_params"]["dense_motion_params"], model["discriminator_params"]):
        section.update(block_expansion=4, max_features=16)
    for section in (model["kp_detector_params"], model["generator_params"],
                    model["generator_params"]["dense_motion_params"]):
        section["num_blocks"] = 3
    model["generator_params"]["num_refinement_blocks"] = 1
    model["discriminator_params"]["num_blocks"] = 2
    config["train_params"].update(batch_size=2, num_epochs=3, epoch_milestones=[1])
    return config


def tiny_tpsmm_config() -> dict[str, Any]:
    config = copy.deepcopy(resolve_config("tpsmm-shapes-64"))
    config["dataset_params"]["frame_shape"] = [FRAME, FRAME, 3]
    model = config["model_params"]
    model["common_params"].update(num_tps=2, bg=True)
    model["generator_params"].update(block_expansion=4, max_features=16)
    model["dense_motion_params"].update(block_expansion=4, max_features=16, num_blocks=2)
    model["avd_network_params"].update(id_bottle_size=4, pose_bottle_size=4)
    model["fixture_widths"] = {"resnet18": [4, 8, 8, 8], "avd_hidden": [8, 8, 8]}
    train = config["train_params"]
    # an epoch is 2 steps on tiny_dataset: the BG predictor joins and the dropout ends within 3 epochs
    train.update(batch_size=2, num_epochs=3, epoch_milestones=[1], bg_start=1, dropout_epoch=2, dropout_inc_epoch=1)
    config["train_avd_params"].update(batch_size=2, num_epochs=2, epoch_milestones=[1])
    return config
