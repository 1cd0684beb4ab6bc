"""LIA training (the official trainer.py / train.py, removed from the repository in 2025; spec §7).

The generator reconstructs the driving frame from the source in absolute mode: L1 (in LIA's [-1, 1] range) +
VGG19 pyramid + non-saturating GAN, all weight 1. The discriminator is StyleGAN2's ResNet discriminator with the
non-saturating logistic loss; as in the official code, no R1 or path-length penalty is computed — the
``*_reg_every`` settings only enter Adam's lazy-regularisation learning-rate and beta corrections.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animcli.data import PairSampling
from animcli.models.lia.architecture import LiaArchitecture
from animcli.models.lia.discriminator import Discriminator
from animcli.models.lia.generator import Generator
from animcli.models.lia.model import to_signed_range
from animcli.train.losses import PerceptualLoss, l1
from animcli.train.trainer import FamilyTrainer, Preview, TrainContext, adam_step_order

DEFAULT_TRAIN_PARAMS: dict[str, Any] = {
    "lr": 0.002, "g_reg_every": 4, "d_reg_every": 16, "scales": [1, 0.5, 0.25, 0.125],
    "perceptual": [10, 10, 10, 10, 10],
}


def to_unit_range(images: Tensor) -> Tensor:
    """[-1, 1] → [0, 1], not clamped: the loss must see (and pull back) an output that overshoots the range.

    The official VGG loss clamps each pyramid level just before VGG, which ``Vgg19Features`` does. Clamping
    here, before the pyramid, made every pixel beyond ±1 a dead zone for the whole pyramid loss (and for its
    pixel stand-in): on dark-background data most of the output sank below −1 within 30 steps and only the
    weight-1 L1 term still pulled on it.
    """
    return (images + 1) / 2


def lazy_adam(parameters: Any, lr: float, reg_every: int) -> torch.optim.Adam:
    """StyleGAN2's Adam settings for lazy regularisation: lr·c and betas (0, 0.99^c), c = k / (k + 1)."""
    ratio = reg_every / (reg_every + 1)
    return torch.optim.Adam(parameters, lr=lr * ratio, betas=(0.0, 0.99**ratio))


class GeneratorFullModel(nn.Module):
    def __init__(self, generator: Generator, discriminator: Discriminator, perceptual: PerceptualLoss) -> None:
        super().__init__()
        self.generator, self.discriminator, self.perceptual = generator, discriminator, perceptual

    def forward(self, source: Tensor, driving: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """source, driving in [-1, 1] → the three loss terms and the reconstruction (in [-1, 1])."""
        reconstruction = self.generator(source, driving)
        losses = {
            "l1": l1(reconstruction, driving),
            "vgg": self.perceptual(to_unit_range(reconstruction), to_unit_range(driving)),
            "gan": F.softplus(-self.discriminator(reconstruction).float()).mean(),
        }
        return losses, reconstruction


class DiscriminatorFullModel(nn.Module):
    def __init__(self, discriminator: Discriminator) -> None:
        super().__init__()
        self.discriminator = discriminator

    def forward(self, driving: Tensor, reconstruction: Tensor) -> Tensor:
        real = self.discriminator(driving).float()
        fake = self.discriminator(reconstruction.detach()).float()
        return F.softplus(-real).mean() + F.softplus(fake).mean()


class LiaTrainer(FamilyTrainer):
    family = "lia"
    config_suffix = ".json"
    checkpoint_name = "last.pt"
    pair_sampling = PairSampling(distinct=True)  # two different frames in random order (random.sample)

    def __init__(self, config: dict[str, Any], context: TrainContext) -> None:
        super().__init__(config, context)
        params = {**DEFAULT_TRAIN_PARAMS, **config["train_params"]}
        arch = LiaArchitecture.from_config(config)
        generator = Generator(arch).to(context.device)
        discriminator = Discriminator(arch).to(context.device)
        self.networks = {"gen": generator, "dis": discriminator}
        perceptual = context.perceptual_loss(params["scales"], params["perceptual"])
        self.generator_full = context.parallel(
            GeneratorFullModel(generator, discriminator, perceptual).to(context.device))
        self.discriminator_full = context.parallel(DiscriminatorFullModel(discriminator).to(context.device))
        self.optimizers = {
            "g_optim": lazy_adam(generator.parameters(), params["lr"], params["g_reg_every"]),
            "d_optim": lazy_adam(discriminator.parameters(), params["lr"], params["d_reg_every"]),
        }

    def official_entries(self, epoch: int, step: int) -> dict[str, Any]:
        return {}  # the official trainer also pickled its argparse arguments; nothing reads them back

    @staticmethod
    def frame_shape(config: dict[str, Any]) -> tuple[int, int]:
        return int(config["size"]), int(config["size"])

    def train_step(self, source: Tensor, driving: Tensor) -> dict[str, float]:
        precision = self.context.precision
        source_signed, driving_signed = to_signed_range(source), to_signed_range(driving)
        with precision.autocast():
            losses, reconstruction = self.generator_full(source_signed, driving_signed)
        adam_step_order(sum(losses.values()), precision, [self.optimizers["g_optim"]])
        self.optimizers["d_optim"].zero_grad(set_to_none=True)
        with precision.autocast():
            losses["dis"] = self.discriminator_full(driving_signed, reconstruction)
        adam_step_order(losses["dis"], precision, [self.optimizers["d_optim"]])
        precision.update()
        self.latest_preview = Preview.of(source, driving, to_unit_range(reconstruction.float()).clamp(0, 1))
        return {name: float(value.detach()) for name, value in losses.items()}


TRAINER = LiaTrainer
