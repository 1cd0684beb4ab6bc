"""Monkey-Net training (the official train.py and modules/losses.py, spec §13).

The generator side matches the discriminator's feature maps of real and generated frames (map 0 is the
image itself, so its term is a pixel L1) plus an LSGAN term; the discriminator is an LSGAN conditioned on
the driving keypoints' heatmaps. Networks work on 5-D videos (B, C, D, H, W): a pair is source D=1, driving D=1.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from animcli.models.base import Motion
from animcli.models.monkeynet import MonkeyNetModel, frame_shape
from animcli.train.fomm import detached
from animcli.train.health import step_health
from animcli.train.losses import feature_matching, l1, lsgan_discriminator, lsgan_generator
from animcli.train.monkeynet_prediction import KeypointPredictorTrainer
from animcli.train.trainer import (
    KeypointFamilyTrainer,
    Preview,
    TrainContext,
    adam_step_order,
    keypoint_family_optimization,
)


def split_frames(kp: Motion) -> tuple[Motion, Motion]:
    """Keypoints of the (source, driving) clip (B, 2, K, …) → source (B, 1, K, …) and driving (B, 1, K, …)."""
    return {k: v[:, :1] for k, v in kp.items()}, {k: v[:, 1:] for k, v in kp.items()}


class GeneratorFullModel(nn.Module):
    def __init__(self, kp_detector: nn.Module, generator: nn.Module, discriminator: nn.Module,
                 train_params: dict[str, Any]) -> None:
        super().__init__()
        self.kp_detector, self.generator, self.discriminator = kp_detector, generator, discriminator
        self.weights = train_params["loss_weights"]
        self.detach_kp = bool(train_params.get("detach_kp_generator", False))

    def forward(self, source: Tensor, driving: Tensor) -> tuple[dict[str, Tensor], dict[str, Any]]:
        # One detector pass over both frames, as officially (BatchNorm statistics over the pair).
        kp_source, kp_driving = split_frames(self.kp_detector(torch.cat([source, driving], dim=2)))
        kp_for_generator = (detached(kp_driving), detached(kp_source)) if self.detach_kp else (kp_driving, kp_source)
        generated = self.generator(source, *kp_for_generator)
        generated.update(kp_source=kp_source, kp_driving=kp_driving)
        fake_maps = self.discriminator(generated["video_prediction"], kp_driving, kp_source)
        real_maps = self.discriminator(driving, kp_driving, kp_source)
        losses = {
            "reconstruction": feature_matching(real_maps, fake_maps, self.weights["reconstruction"]),
            "gen_gan": self.weights["generator_gan"] * lsgan_generator(fake_maps[-1]),
        }
        if self.weights.get("reconstruction_deformed"):
            losses["reconstruction_deformed"] = (self.weights["reconstruction_deformed"]
                                                 * l1(driving, generated["video_deformed"]))
        return losses, generated


class DiscriminatorFullModel(nn.Module):
    def __init__(self, discriminator: nn.Module, train_params: dict[str, Any]) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.weight = train_params["loss_weights"]["discriminator_gan"]
        self.detach_kp = bool(train_params.get("detach_kp_discriminator", True))

    def forward(self, driving: Tensor, prediction: Tensor, kp_driving: Motion, kp_source: Motion
                ) -> tuple[Tensor, Tensor, Tensor]:
        """The LSGAN loss, and D's mean score of the real and the generated videos (1 = real, 0 = fake)."""
        if self.detach_kp:
            kp_driving, kp_source = detached(kp_driving), detached(kp_source)
        real_maps = self.discriminator(driving, kp_driving, kp_source)
        fake_maps = self.discriminator(prediction.detach(), kp_driving, kp_source)
        loss = self.weight * lsgan_discriminator(real_maps[-1], fake_maps[-1])
        return loss, real_maps[-1].detach().float().mean(), fake_maps[-1].detach().float().mean()


class MonkeyNetTrainer(KeypointFamilyTrainer):
    family = "monkeynet"
    model_class = MonkeyNetModel
    other_tasks = {"prediction": KeypointPredictorTrainer}

    def __init__(self, config: dict[str, Any], context: TrainContext) -> None:
        super().__init__(config, context)
        train_params = config["train_params"]
        self.generator_full = context.parallel(
            GeneratorFullModel(self.kp_detector, self.generator, self.discriminator, train_params).to(context.device))
        self.discriminator_full = context.parallel(
            DiscriminatorFullModel(self.discriminator, train_params).to(context.device))
        self.optimizers, self.schedulers = keypoint_family_optimization(
            self.networks, dict.fromkeys(("generator", "discriminator", "kp_detector"), train_params["lr"]),
            train_params.get("epoch_milestones") or [])

    def official_entries(self, epoch: int, step: int) -> dict[str, Any]:
        return {"epoch": epoch, "it": step}

    @staticmethod
    def frame_shape(config: dict[str, Any]) -> tuple[int, int]:
        return frame_shape(config)

    def train_step(self, source: Tensor, driving: Tensor) -> dict[str, float]:
        precision = self.context.precision
        source, driving = source.unsqueeze(2), driving.unsqueeze(2)
        with precision.autocast():
            losses, generated = self.generator_full(source, driving)
        # Official order: generator step, clear the discriminator's gradients from the generator loss, then the
        # detector step, then the discriminator on detached inputs.
        gradient_norm = adam_step_order(sum(losses.values()), precision, [self.optimizers["optimizer_generator"]])
        self.optimizers["optimizer_discriminator"].zero_grad(set_to_none=True)
        precision.step(self.optimizers["optimizer_kp_detector"])
        self.optimizers["optimizer_kp_detector"].zero_grad(set_to_none=True)
        with precision.autocast():
            losses["disc_gan"], d_real, d_fake = self.discriminator_full(
                driving, generated["video_prediction"], generated["kp_driving"], generated["kp_source"])
        adam_step_order(losses["disc_gan"], precision, [self.optimizers["optimizer_discriminator"]])
        precision.update()
        self.latest_health = step_health(generated["video_prediction"], gradient_norm, d_real=d_real,
                                         d_fake=d_fake)
        self.latest_preview = Preview.of(source[:, :, 0], driving[:, :, 0], generated["video_prediction"][:, :, 0],
                                         generated["kp_source"]["mean"][:, 0], generated["kp_driving"]["mean"][:, 0])
        return {name: float(value.detach()) for name, value in losses.items()}


TRAINER = MonkeyNetTrainer
