"""ResNet-18 with torchvision's module tree and state-dict key names (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0``, ``fc``…), so TPSMM's official checkpoints, which hold torchvision ResNets, load as they
are; written here so animcli needs no torchvision. Stage widths are a parameter only because the shared
fixtures use a reduced ResNet (the published models use torchvision's 64, 128, 256, 512)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

RESNET18_WIDTHS = (64, 128, 256, 512)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """conv3×3 → BN → ReLU → conv3×3 → BN, plus the input (or its 1×1 strided projection), → ReLU."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = (nn.Sequential(nn.Conv2d(in_channels, channels, kernel_size=1, stride=stride, bias=False),
                                         nn.BatchNorm2d(channels))
                           if stride != 1 or in_channels != channels else None)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision ``resnet18`` with ``in_channels`` input channels and an ``fc`` of ``num_outputs``."""

    def __init__(self, in_channels: int, num_outputs: int, widths: Sequence[int] = RESNET18_WIDTHS) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        previous = widths[0]
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            self.add_module(f"layer{index + 1}", nn.Sequential(BasicBlock(previous, width, stride),
                                                               BasicBlock(width, width)))
            previous = width
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(previous, num_outputs)
        self._torchvision_init()

    def _torchvision_init(self) -> None:
        """torchvision's initialisation (what a training run from scratch starts from)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)

    def stages(self) -> list[nn.Module]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def forward(self, x: Tensor) -> Tensor:
        out = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in self.stages():
            out = stage(out)
        return self.fc(self.avgpool(out).flatten(1))


def resnet_widths(state_dict: dict[str, Tensor], prefix: str) -> tuple[int, ...]:
    """The stage widths of a saved ResNet-18 (``prefix`` = e.g. ``fg_encoder.``), read off its conv shapes."""
    return tuple(int(state_dict[f"{prefix}layer{i}.0.conv1.weight"].shape[0]) for i in range(1, 5))
