"""Training health: the figures that show a failing run within minutes, and the warnings they raise.

Each family trainer reports what it can see for free during its step (``FamilyTrainer.latest_health``):
``maskN`` the mean occlusion mask of level N (1 = the warped source is used), ``d_real``/``d_fake`` the
discriminator's mean belief that real and generated images are real, ``grad_*`` gradient norms, and
``output_std`` the spread of the generated batch.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from torch import Tensor

#: a mean occlusion mask below this passes ×0.05 of the gradient to the flows: the warp stops learning.
CLOSED_MASK = 0.05
#: a generated batch whose values spread less than this (in the family's image range) is one constant colour.
CONSTANT_OUTPUT_STD = 1e-3


def step_health(generated: Tensor, gradient_norm: float, masks: Sequence[Tensor] = (),
                d_real: Tensor | None = None, d_fake: Tensor | None = None) -> dict[str, float]:
    """A step's figures from what the step computed anyway (no extra forward pass)."""
    health = {f"mask{level}": float(mask.detach().float().mean()) for level, mask in enumerate(masks)}
    health["grad_gen"] = gradient_norm
    if d_real is not None and d_fake is not None:
        health["d_real"], health["d_fake"] = float(d_real), float(d_fake)
    health["output_std"] = float(generated.detach().float().std())
    return health


class TrainingHealthWarning(UserWarning):
    pass


class HealthWatch:
    """Warns once per run and kind of failure, naming the step and the figures."""

    def __init__(self) -> None:
        self.warned: set[str] = set()

    def check(self, step: int, health: dict[str, float]) -> None:
        closed = {name: value for name, value in health.items() if name.startswith("mask") and value < CLOSED_MASK}
        if closed:
            levels = ", ".join(f"{name}={value:.3f}" for name, value in closed.items())
            self._warn("masks", f"step {step}: occlusion masks closed ({levels} < {CLOSED_MASK}): the warp no "
                                "longer learns; see docs/train.md for the recipe switches")
        if health.get("output_std", 1.0) < CONSTANT_OUTPUT_STD:
            self._warn("constant", f"step {step}: the generated images collapsed to one constant colour "
                                   f"(spread {health['output_std']:.1e})")

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self.warned:
            self.warned.add(kind)
            warnings.warn(message, TrainingHealthWarning, stacklevel=3)


def summary(health: dict[str, float]) -> str:
    """A short form for the progress line: ``masks 0.31/0.42 D 0.62/0.38 |g| 1.2``."""
    parts = []
    masks = [value for name, value in health.items() if name.startswith("mask")]
    if masks:
        parts.append("masks " + "/".join(f"{value:.2f}" for value in masks))
    if "d_real" in health:
        parts.append(f"D {health['d_real']:.2f}/{health.get('d_fake', float('nan')):.2f}")
    gradients = [value for name, value in health.items() if name.startswith("grad")]
    if gradients:
        parts.append("|g| " + "/".join(f"{value:.2g}" for value in gradients))
    return " ".join(parts)
