"""FOMM training (the official GeneratorFullModel / DiscriminatorFullModel and train.py, spec §11).

Generator side: perceptual pyramid (VGG19) + optional LSGAN and discriminator feature matching (the -adv
configs) + equivariance of keypoint values and jacobians under a random TPS warp. Discriminator side: LSGAN,
run only when ``generator_gan`` ≠ 0 (otherwise it is still built and saved, as officially).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from animcli.models.base import Motion
from animcli.models.fomm import FommModel
from animcli.train.health import step_health
from animcli.train.losses import (
    ImagePyramid,
    PerceptualLoss,
    feature_matching,
    l1,
    lsgan_discriminator,
    lsgan_generator,
)
from animcli.train.tps import RandomTps
from animcli.train.trainer import (
    KeypointFamilyTrainer,
    Preview,
    TrainContext,
    adam_step_order,
    keypoint_family_optimization,
)


def detached(kp: Motion) -> Motion:
    return {key: value.detach() for key, value in kp.items()}


class GeneratorFullModel(nn.Module):
    """Keypoints → generator → every generator-side loss term, in one forward (the unit DDP wraps)."""

    def __init__(self, kp_detector: nn.Module, generator: nn.Module, discriminator: nn.Module,
                 perceptual: PerceptualLoss, train_params: dict[str, Any]) -> None:
        super().__init__()
        self.kp_detector, self.generator, self.discriminator = kp_detector, generator, discriminator
        self.perceptual = perceptual
        self.weights = train_params["loss_weights"]
        self.transform_params = train_params["transform_params"]
        self.disc_pyramid = ImagePyramid(discriminator.scales)

    def forward(self, source: Tensor, driving: Tensor) -> tuple[dict[str, Tensor], dict[str, Any]]:
        kp_source, kp_driving = self.kp_detector(source), self.kp_detector(driving)
        generated = self.generator(source, kp_driving=kp_driving, kp_source=kp_source)
        generated.update(kp_source=kp_source, kp_driving=kp_driving)
        prediction = generated["prediction"]
        losses: dict[str, Tensor] = {}
        if sum(self.weights["perceptual"]):
            losses["perceptual"] = self.perceptual(prediction, driving)
        if self.weights["generator_gan"]:
            losses.update(self.adversarial_terms(prediction, driving, kp_driving))
        if self.weights["equivariance_value"] or self.weights["equivariance_jacobian"]:
            losses.update(self.equivariance_terms(driving, kp_driving))
        return losses, generated

    def adversarial_terms(self, prediction: Tensor, driving: Tensor, kp_driving: Motion) -> dict[str, Tensor]:
        kp = detached(kp_driving)
        fake = self.discriminator(self.disc_pyramid(prediction), kp=kp)
        real = self.discriminator(self.disc_pyramid(driving), kp=kp)
        scales = self.discriminator.scales
        terms = {"gen_gan": sum(self.weights["generator_gan"] * lsgan_generator(fake[f"prediction_map_{s}"])
                                for s in scales)}
        if sum(self.weights["feature_matching"]):
            terms["feature_matching"] = sum(
                feature_matching(real[f"feature_maps_{s}"], fake[f"feature_maps_{s}"], self.weights["feature_matching"])
                for s in scales)
        return terms

    def equivariance_terms(self, driving: Tensor, kp_driving: Motion) -> dict[str, Tensor]:
        """The detector must commute with a random warp T: kp(driving) ≈ T(kp(T⁻¹-warped driving))."""
        transform = RandomTps.sample(driving.shape[0], device=driving.device, **self.transform_params)
        kp_transformed = self.kp_detector(transform.transform_frame(driving))
        terms = {}
        if self.weights["equivariance_value"]:
            warped = transform.warp(kp_transformed["value"])
            terms["equivariance_value"] = self.weights["equivariance_value"] * l1(kp_driving["value"], warped)
        if self.weights["equivariance_jacobian"]:
            jacobian_transformed = transform.jacobian(kp_transformed["value"]) @ kp_transformed["jacobian"].float()
            normed = torch.inverse(kp_driving["jacobian"].float()) @ jacobian_transformed
            identity = torch.eye(2, device=normed.device).expand_as(normed)
            terms["equivariance_jacobian"] = self.weights["equivariance_jacobian"] * l1(identity, normed)
        return terms


class DiscriminatorFullModel(nn.Module):
    def __init__(self, discriminator: nn.Module, train_params: dict[str, Any]) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.pyramid = ImagePyramid(discriminator.scales)
        self.weight = train_params["loss_weights"]["discriminator_gan"]

    def forward(self, driving: Tensor, prediction: Tensor, kp_driving: Motion) -> tuple[Tensor, Tensor, Tensor]:
        """The LSGAN loss, and D's mean score of the real and the generated images (1 = real, 0 = fake)."""
        kp = detached(kp_driving)
        real = self.discriminator(self.pyramid(driving), kp=kp)
        fake = self.discriminator(self.pyramid(prediction.detach()), kp=kp)
        scales = self.discriminator.scales
        loss = sum(self.weight * lsgan_discriminator(real[f"prediction_map_{s}"], fake[f"prediction_map_{s}"])
                   for s in scales)
        return loss, mean_score(real, scales), mean_score(fake, scales)


def mean_score(maps: dict[str, Any], scales: list[str]) -> Tensor:
    return torch.stack([maps[f"prediction_map_{s}"].detach().float().mean() for s in scales]).mean()


class FommTrainer(KeypointFamilyTrainer):
    family = "fomm"
    model_class = FommModel

    def __init__(self, config: dict[str, Any], context: TrainContext) -> None:
        super().__init__(config, context)
        train_params = config["train_params"]
        perceptual = context.perceptual_loss(train_params["scales"], train_params["loss_weights"]["perceptual"])
        self.generator_full = context.parallel(GeneratorFullModel(
            self.kp_detector, self.generator, self.discriminator, perceptual, train_params).to(context.device))
        self.use_gan = bool(train_params["loss_weights"]["generator_gan"])
        self.discriminator_full = context.parallel(
            DiscriminatorFullModel(self.discriminator, train_params).to(context.device)) if self.use_gan else None
        self.optimizers, self.schedulers = keypoint_family_optimization(
            self.networks, {name: train_params[f"lr_{name}"] for name in ("generator", "discriminator", "kp_detector")},
            train_params.get("epoch_milestones") or [])

    @staticmethod
    def frame_shape(config: dict[str, Any]) -> tuple[int, int]:
        height, width = config["dataset_params"].get("frame_shape", [256, 256, 3])[:2]
        return int(height), int(width)

    def train_step(self, source: Tensor, driving: Tensor) -> dict[str, float]:
        precision = self.context.precision
        with precision.autocast():
            losses, generated = self.generator_full(source, driving)
        loss_generator = sum(losses.values())
        gradient_norm = adam_step_order(loss_generator, precision, [self.optimizers["optimizer_generator"],
                                                                    self.optimizers["optimizer_kp_detector"]])
        scores: tuple[Tensor | None, Tensor | None] = (None, None)
        if self.discriminator_full is not None:
            self.optimizers["optimizer_discriminator"].zero_grad(set_to_none=True)
            with precision.autocast():
                losses["disc_gan"], *scores = self.discriminator_full(driving, generated["prediction"],
                                                                      generated["kp_driving"])
            adam_step_order(losses["disc_gan"], precision, [self.optimizers["optimizer_discriminator"]])
        precision.update()
        masks = [generated["occlusion_map"]] if "occlusion_map" in generated else []
        self.latest_health = step_health(generated["prediction"], gradient_norm, masks, *scores)
        self.latest_preview = Preview.of(source, driving, generated["prediction"],
                                         generated["kp_source"]["value"], generated["kp_driving"]["value"])
        return {name: float(value.detach()) for name, value in losses.items()}


TRAINER = FommTrainer
