"""The interface every backend implements.

A backend runs the three per-run computations of :class:`AnimationModel` — encoding the source, encoding
driving frames, rendering frames from the cached source state — on tensors at the model's input size.
Motion transfer (small keypoint or latent algebra, some of it on the CPU by design) always runs in torch.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor

from animcli.common.devices import inference_precision
from animcli.common.errors import ModelError
from animcli.models.base import AnimationModel, Motion


class Backend(ABC):
    name: str
    #: the resolved precisions (``common.devices.resolve_precision``) this backend computes in.
    precisions: tuple[str, ...] = ("fp32",)

    def __init__(self, model: AnimationModel, device: torch.device, precision: str) -> None:
        if precision not in self.precisions:
            raise ModelError(f"the {self.name} backend runs {' or '.join(self.precisions)}, not {precision}: use "
                             f"--precision {self.precisions[0]}, or --backend torch for {precision}")
        self.model = model
        self.device = device
        self.precision_name = precision

    def precision(self) -> contextlib.AbstractContextManager[None]:
        """The context torch-side work (source encoding, transfer, pose comparison) runs in."""
        return inference_precision(self.device, self.precision_name)

    def version(self) -> str:
        """The runtime's version (part of the exported-graph cache key and of ``animcli bench``'s records)."""
        return torch.__version__

    @abstractmethod
    def encode_source(self, source: Tensor, size: int) -> Any:
        """The family's source state for a (1, 3, size, size) image."""

    @abstractmethod
    def encode_driving(self, frames: Tensor, size: int) -> Motion:
        """The motion of (B, 3, size, size) frames."""

    @abstractmethod
    def generate(self, source_state: Any, motion: Motion, size: int) -> Tensor:
        """(B, 3, size, size) frames in [0, 1]."""
