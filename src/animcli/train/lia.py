"""LIA training (the official trainer.py / train.py, removed from the repository in 2025; spec §7).

The generator reconstructs the driving frame from the source in absolute mode: L1 (in LIA's [-1, 1] range) +
VGG19 pyramid + non-saturating GAN, all weight 1. The discriminator is StyleGAN2's ResNet discriminator with the
non-saturating logistic loss; as in the official code, no R1 or path-length penalty is computed by default —
the ``*_reg_every`` settings only enter Adam's lazy-regularisation learning-rate and beta corrections. The
small-recipe switches of ``DEFAULT_TRAIN_PARAMS`` (issue 30) depart from the paper only when a config sets them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from animcli.common.errors import ModelError
from animcli.data import PairSampling
from animcli.models.lia.architecture import LiaArchitecture
from animcli.models.lia.discriminator import Discriminator
from animcli.models.lia.generator import Generator
from animcli.models.lia.model import to_signed_range
from animcli.train.health import step_health
from animcli.train.losses import PerceptualLoss, l1
from animcli.train.trainer import FamilyTrainer, Preview, TrainContext, adam_step_order

DEFAULT_TRAIN_PARAMS: dict[str, Any] = {
    "lr": 0.002, "g_reg_every": 4, "d_reg_every": 16, "scales": [1, 0.5, 0.25, 0.125],
    "perceptual": [10, 10, 10, 10, 10],
    # Small-recipe switches (docs/train.md); these defaults are the paper's, so the published recipes are
    # unchanged. "data_mean": shift the last ToRGB bias so that the untrained output has the data's mean.
    "output_bias": "paper",
    "mask_bias_init": 0.0,  # occlusion-mask logit at start (sigmoid(2) = 0.88: masks open)
    "flow_init": "paper",  # "identity": flow heads start at zero offset
    "generator_beta1": 0.0,  # StyleGAN2's GAN setting; 0.9 speeds up the reconstruction path
    "gan_start_step": 0,  # reconstruction only (no GAN term, no D steps) before this step
    "r1_gamma": 0.0,  # R1 on real images every d_reg_every steps (StyleGAN2-ADA: 0.0002·res²/batch)
}
#: images the untrained output's mean is measured on for ``output_bias: data_mean``
CALIBRATION_ITEMS = 16


def to_unit_range(images: Tensor) -> Tensor:
    """[-1, 1] → [0, 1], not clamped: the loss must see (and pull back) an output that overshoots the range.

    The official VGG loss clamps each pyramid level just before VGG, which ``Vgg19Features`` does. Clamping
    here, before the pyramid, made every pixel beyond ±1 a dead zone for the whole pyramid loss (and for its
    pixel stand-in): on dark-background data most of the output sank below −1 within 30 steps and only the
    weight-1 L1 term still pulled on it.
    """
    return (images + 1) / 2


def lazy_adam(parameters: Any, lr: float, reg_every: int, beta1: float = 0.0) -> torch.optim.Adam:
    """StyleGAN2's Adam settings for lazy regularisation: lr·c and betas (β1^c, 0.99^c), c = k / (k + 1)."""
    ratio = reg_every / (reg_every + 1)
    return torch.optim.Adam(parameters, lr=lr * ratio, betas=(beta1**ratio, 0.99**ratio))


class GeneratorFullModel(nn.Module):
    def __init__(self, generator: Generator, discriminator: Discriminator, perceptual: PerceptualLoss) -> None:
        super().__init__()
        self.generator, self.discriminator, self.perceptual = generator, discriminator, perceptual

    def forward(self, source: Tensor, driving: Tensor, with_gan: bool = True
                ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """source, driving in [-1, 1] → the loss terms, the reconstruction (in [-1, 1]) and each level's mean
        occlusion mask (low to high resolution; health only)."""
        reconstruction, flow_logits = self.generator.render(source, driving)
        losses = {
            "l1": l1(reconstruction, driving),
            "vgg": self.perceptual(to_unit_range(reconstruction), to_unit_range(driving)),
        }
        if with_gan:
            losses["gan"] = F.softplus(-self.discriminator(reconstruction).float()).mean()
        mask_means = torch.stack([torch.sigmoid(logits[:, 2].detach().float()).mean() for logits in flow_logits])
        return losses, reconstruction, mask_means


class DiscriminatorFullModel(nn.Module):
    def __init__(self, discriminator: Discriminator) -> None:
        super().__init__()
        self.discriminator = discriminator

    def forward(self, driving: Tensor, reconstruction: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The non-saturating loss, and D's mean belief that the real and the fake images are real."""
        real = self.discriminator(driving).float()
        fake = self.discriminator(reconstruction.detach()).float()
        loss = F.softplus(-real).mean() + F.softplus(fake).mean()
        return loss, torch.sigmoid(real.detach()).mean(), torch.sigmoid(fake.detach()).mean()


def r1_penalty(discriminator: Discriminator, real: Tensor) -> Tensor:
    """R1: the squared gradient norm of D's logit with respect to real images (Mescheder et al. 2018)."""
    real = real.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(discriminator(real).float().sum(), real, create_graph=True)
    return gradient.pow(2).flatten(1).sum(1).mean()


class LiaTrainer(FamilyTrainer):
    family = "lia"
    config_suffix = ".json"
    checkpoint_name = "last.pt"
    pair_sampling = PairSampling(distinct=True)  # two different frames in random order (random.sample)

    def __init__(self, config: dict[str, Any], context: TrainContext) -> None:
        super().__init__(config, context)
        self.params = params = {**DEFAULT_TRAIN_PARAMS, **config["train_params"]}
        arch = LiaArchitecture.from_config(config)
        generator = Generator(arch).to(context.device)
        discriminator = Discriminator(arch).to(context.device)
        initialise_flow_heads(generator, params["mask_bias_init"], params["flow_init"])
        self.networks = {"gen": generator, "dis": discriminator}
        perceptual = context.perceptual_loss(params["scales"], params["perceptual"])
        self.generator_full = context.parallel(
            GeneratorFullModel(generator, discriminator, perceptual).to(context.device))
        self.discriminator_full = context.parallel(DiscriminatorFullModel(discriminator).to(context.device))
        self.optimizers = {
            "g_optim": lazy_adam(generator.parameters(), params["lr"], params["g_reg_every"],
                                 params["generator_beta1"]),
            "d_optim": lazy_adam(discriminator.parameters(), params["lr"], params["d_reg_every"]),
        }

    def official_entries(self, epoch: int, step: int) -> dict[str, Any]:
        return {}  # the official trainer also pickled its argparse arguments; nothing reads them back

    @staticmethod
    def frame_shape(config: dict[str, Any]) -> tuple[int, int]:
        return int(config["size"]), int(config["size"])

    def prepare(self, dataset: Dataset) -> None:
        if self.params["output_bias"] == "data_mean":
            match_output_mean(self.networks["gen"], dataset, self.context.device)

    def train_step(self, source: Tensor, driving: Tensor) -> dict[str, float]:
        precision = self.context.precision
        source_signed, driving_signed = to_signed_range(source), to_signed_range(driving)
        with_gan = self.step >= self.params["gan_start_step"]
        with precision.autocast():
            losses, reconstruction, mask_means = self.generator_full(source_signed, driving_signed, with_gan)
        gradient_norm = adam_step_order(sum(losses.values()), precision, [self.optimizers["g_optim"]])
        scores: tuple[Tensor | None, Tensor | None] = (None, None)
        if with_gan:
            losses["dis"], *scores = self.discriminator_step(driving_signed, reconstruction)
        precision.update()
        self.latest_health = step_health(reconstruction, gradient_norm, list(mask_means), *scores)
        self.latest_preview = Preview.of(source, driving, to_unit_range(reconstruction.float()).clamp(0, 1))
        return {name: float(value.detach()) for name, value in losses.items()}

    def discriminator_step(self, driving: Tensor, reconstruction: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The non-saturating D step, plus lazy R1 (scaled by its interval, as StyleGAN2) when asked."""
        precision, params = self.context.precision, self.params
        self.optimizers["d_optim"].zero_grad(set_to_none=True)
        with precision.autocast():
            loss, real, fake = self.discriminator_full(driving, reconstruction)
        if params["r1_gamma"] > 0 and self.step % params["d_reg_every"] == 0:
            penalty = r1_penalty(self.networks["dis"], driving)
            loss = loss + params["r1_gamma"] / 2 * penalty * params["d_reg_every"]
        adam_step_order(loss, precision, [self.optimizers["d_optim"]])
        return loss, real, fake


def initialise_flow_heads(generator: Generator, mask_bias: float, flow_init: str) -> None:
    """Masks open (``mask_bias``) and/or offsets at zero (``flow_init: identity``); the paper's init is 0 and
    random.

    Each level adds its logits to the upsampled logits of the level below, so the first level's mask bias
    raises every level's mask logit by the same amount.
    """
    if flow_init not in ("paper", "identity"):
        raise ModelError(f"train_params.flow_init must be 'paper' or 'identity', not {flow_init!r}")
    with torch.no_grad():
        generator.dec.to_flows[0].bias[:, 2] = mask_bias
        if flow_init == "identity":
            for to_flow in generator.dec.to_flows:
                to_flow.conv.weight[:, 0:2] = 0


@torch.no_grad()
def match_output_mean(generator: Generator, dataset: Dataset, device: torch.device) -> None:
    """Shift the last ToRGB bias so that the untrained reconstruction has the data's per-channel mean.

    The output is the sum of every level's ToRGB, and the last level's bias is added after its activation,
    so the shift moves the output by exactly that constant. Untrained, LIA's output is bright (+0.36 on
    shapes) where the data is nearly black (-0.98): the fastest way down closes the occlusion masks.
    """
    # Item keys carry their own seed: every process (and every rerun) measures the same items.
    items = [dataset[(index, index)] for index in range(min(CALIBRATION_ITEMS, len(dataset)))]
    source = to_signed_range(torch.stack([item["source"] for item in items]).to(device))
    driving = to_signed_range(torch.stack([item["driving"] for item in items]).to(device))
    output = generator(source, driving)
    shift = driving.mean((0, 2, 3)) - output.mean((0, 2, 3))
    generator.dec.to_rgbs[-1].bias += shift.view(1, 3, 1, 1)


TRAINER = LiaTrainer
