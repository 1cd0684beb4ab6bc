"""The frozen VGG19 behind the papers' perceptual loss, and where its ImageNet weights come from.

The layer layout equals torchvision's ``vgg19().features`` (and timm's ``vgg19``), so their state-dict keys
``features.<index>.{weight,bias}`` load directly. Weights are looked up in this order: ``--vgg-weights PATH``
(a .safetensors or .pth state dict from torchvision or timm), then the Hugging Face Hub
(``timm/vgg19.tv_in1k``: torchvision's ImageNet weights repackaged as safetensors).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from animcli.common.errors import AnimcliError
from animcli.weights.hub import HubFile, HubSettings, SourceUnavailable, cached_hub_file, download_hub_file

HUB_WEIGHTS = HubFile(repo_id="timm/vgg19.tv_in1k", filename="model.safetensors")
# Convolution widths up to conv5_1; "M" is a 2×2 max-pool. Indices in the Sequential then match torchvision.
LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)
# Feature taps after relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1: end indices of the official slices.
TAPS = (2, 7, 12, 21, 30)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VggWeightsError(AnimcliError):
    """VGG19 weights that cannot be found or do not fit."""


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for item in LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    return nn.Sequential(*layers)


class Vgg19Features(nn.Module):
    """Frozen VGG19; maps an image batch in [0, 1] to its five relu{1..5}_1 feature maps."""

    def __init__(self, state_dict: dict[str, Tensor] | None = None) -> None:
        super().__init__()
        self.features = _features()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if state_dict is not None:
            self.load_features(state_dict)
        self.requires_grad_(False)
        self.eval()

    def load_features(self, state_dict: dict[str, Tensor]) -> None:
        """Take the ``features.N.*`` entries of a torchvision/timm VGG19 state dict (classifier keys ignored)."""
        expected = self.features.state_dict()
        found = {key[len("features."):]: value for key, value in state_dict.items() if key.startswith("features.")
                 and key[len("features."):] in expected}
        missing = sorted(set(expected) - set(found))
        if missing:
            raise VggWeightsError(f"the VGG19 weights lack {len(missing)} feature tensors (e.g. features.{missing[0]})")
        wrong = [key for key, value in found.items() if value.shape != expected[key].shape]
        if wrong:
            raise VggWeightsError(f"the VGG19 weights do not fit: features.{wrong[0]} has shape "
                                  f"{tuple(found[wrong[0]].shape)}, expected {tuple(expected[wrong[0]].shape)}")
        self.features.load_state_dict({key: value.float() for key, value in found.items()})

    def train(self, mode: bool = True) -> Vgg19Features:
        return super().train(False)  # frozen: never leaves eval mode, whatever the enclosing model does

    def forward(self, image: Tensor) -> list[Tensor]:
        # VGG only knows images in [0, 1]; the official LIA loss clamps each pyramid level right here, so an
        # unbounded generator output is clamped for VGG's sake only (FOMM's sigmoid output is unaffected).
        image = image.clamp(0, 1)
        out = (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)
        taps = []
        start = 0
        for end in TAPS:
            out = self.features[start:end](out)
            taps.append(out)
            start = end
        return taps


def read_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise VggWeightsError(f"VGG19 weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decoding failure means "not a usable weights file"
        raise VggWeightsError(f"cannot read VGG19 weights from {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(loaded, dict):
        raise VggWeightsError(f"{path} does not hold a state dict")
    return loaded.get("state_dict", loaded)


def hub_weights_path() -> Path:
    """The cached timm VGG19 safetensors file, downloaded first when it is not cached yet."""
    settings = HubSettings.from_environment()
    cached = cached_hub_file(HUB_WEIGHTS, settings)
    if cached is not None:
        return cached
    try:
        return download_hub_file(HUB_WEIGHTS, settings)
    except SourceUnavailable as exc:
        raise VggWeightsError(
            f"cannot get the VGG19 weights for the perceptual loss from the Hugging Face Hub ({HUB_WEIGHTS.repo_id}: "
            f"{exc}); pass --vgg-weights PATH (torchvision vgg19-dcbb9e9d.pth or timm model.safetensors), "
            "or --perceptual none to train with a pixel L1 pyramid instead"
        ) from None


def load_vgg19(weights: Path | None = None) -> Vgg19Features:
    return Vgg19Features(read_state_dict(weights if weights is not None else hub_weights_path()))
