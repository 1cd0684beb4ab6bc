"""Loss pieces shared by the families: image pyramid, perceptual (VGG19) loss, GAN terms."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from animcli.models.blocks import AntiAliasInterpolation2d


def scale_key(scale: float) -> str:
    """The official dict key of a pyramid level: 'prediction_1', 'prediction_0.5', …"""
    return f"prediction_{scale}"


class ImagePyramid(nn.Module):
    """Band-limited copies of an image at each scale (FOMM's ImagePyramide), keyed like the official dict."""

    def __init__(self, scales: Sequence[float], num_channels: int = 3) -> None:
        super().__init__()
        self.scales = [float(s) if s != 1 else 1 for s in scales]
        # ModuleDict keys cannot contain '.', hence the official '-' spelling.
        self.downs = nn.ModuleDict({str(s).replace(".", "-"): AntiAliasInterpolation2d(num_channels, s)
                                    for s in self.scales})

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        return {scale_key(s): self.downs[str(s).replace(".", "-")](image) for s in self.scales}


class PerceptualLoss(nn.Module):
    """Σ_scales Σ_layers w_i · mean |φ_i(prediction) − φ_i(target)| over an image pyramid.

    φ is the frozen VGG19 (images in [0, 1]). Without VGG weights (``vgg=None``) the pixel pyramid stands in:
    Σ_scales w_0 · mean |prediction − target|, a much weaker training signal, announced loudly.
    """

    def __init__(self, scales: Sequence[float], weights: Sequence[float], vgg: nn.Module | None) -> None:
        super().__init__()
        self.pyramid = ImagePyramid(scales)
        self.weights = [float(w) for w in weights]
        self.vgg = vgg
        if vgg is None:
            warnings.warn("training WITHOUT the VGG19 perceptual loss (--perceptual none): a pixel L1 pyramid "
                          "replaces it; expect blurrier results than the papers'", stacklevel=2)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        predicted, real = self.pyramid(prediction), self.pyramid(target)
        total = prediction.new_zeros((), dtype=torch.float32)
        for key in predicted:
            if self.vgg is None:
                total = total + self.weights[0] * l1(predicted[key], real[key].detach())
                continue
            for weight, fake_features, real_features in zip(
                self.weights, self.vgg(predicted[key]), self.vgg(real[key]), strict=False
            ):
                total = total + weight * l1(fake_features, real_features.detach())
        return total


def l1(a: Tensor, b: Tensor) -> Tensor:
    """Mean absolute difference, accumulated in float32 whatever the autocast dtype."""
    return (a.float() - b.float()).abs().mean()


def lsgan_generator(score_fake: Tensor) -> Tensor:
    return ((1 - score_fake.float()) ** 2).mean()


def lsgan_discriminator(score_real: Tensor, score_fake: Tensor) -> Tensor:
    return ((1 - score_real.float()) ** 2).mean() + (score_fake.float() ** 2).mean()


def feature_matching(real_maps: Sequence[Tensor], fake_maps: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    """Σ_i w_i · mean |real_i − fake_i|; layers with weight 0 are skipped."""
    total = fake_maps[0].new_zeros((), dtype=torch.float32)
    for weight, real, fake in zip(weights, real_maps, fake_maps, strict=False):
        if weight:
            total = total + weight * l1(real, fake)
    return total
