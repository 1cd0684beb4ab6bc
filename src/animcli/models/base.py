"""The one interface every model family implements.

``animate``, ``eval`` and ``train`` only talk to :class:`AnimationModel`; nothing outside
``models/<family>/`` branches on a family name. A family is an ``AnimationModel`` subclass registered in
``models/__init__.py``.

Conventions at this boundary:
* images are float tensors (B, 3, H, W), RGB in [0, 1], at the model's input size (``model.size``);
  a family that works in another range (LIA: [-1, 1]) converts inside;
* a *motion* is a ``dict[str, Tensor]`` whose tensors all have the frame batch as their first axis, so the
  generic code can slice (``motion_slice``) and concatenate it without knowing what it holds;
* the *source state* is whatever the family caches per source image (keypoints, appearance features…);
  it is computed once per run by ``encode_source``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from torch import Tensor, nn

from animcli.errors import ModelError

Motion = dict[str, Tensor]
TransferMode = Literal["relative", "absolute"]


@dataclass(frozen=True)
class TransferOptions:
    """How driving motion is transferred onto the source.

    relative: apply the driving video's motion *relative to its first frame* to the source's own pose.
    absolute: impose the driving frame's pose as it is.
    adapt_scale: scale relative motion by the ratio of source to driving keypoint spread
    (``None`` = the family's default; families without the notion reject ``True``).
    """

    mode: TransferMode = "relative"
    adapt_scale: bool | None = None


def motion_slice(motion: Motion, index: slice | int) -> Motion:
    if isinstance(index, int):
        index = slice(index, index + 1)
    return {key: value[index] for key, value in motion.items()}


class AnimationModel(nn.Module, ABC):
    """A family's inference model: encode source, encode driving frames, transfer, generate."""

    family: ClassVar[str]
    #: transfer mode the family's official demo uses when the model/config says nothing.
    default_mode: ClassVar[TransferMode] = "relative"
    #: whether ``TransferOptions.adapt_scale`` means anything for this family.
    supports_adapt_scale: ClassVar[bool] = True

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config

    # -- construction -------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def claims_config(cls, config: dict[str, Any]) -> bool:
        """Whether a parsed config file belongs to this family."""

    @classmethod
    @abstractmethod
    def claims_checkpoint(cls, checkpoint: dict[str, Any]) -> bool:
        """Whether a loaded checkpoint dict (official layout) belongs to this family."""

    @classmethod
    def infer_config(cls, checkpoint: dict[str, Any]) -> dict[str, Any] | None:
        """A config that fits a checkpoint given without one (e.g. from its tensor shapes), or None."""
        return None

    @abstractmethod
    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Strictly load the inference networks from an official-layout checkpoint dict.

        Raises ``ModelError`` with a one-line reason when keys or shapes do not fit the config.
        """

    @property
    @abstractmethod
    def size(self) -> int:
        """Square input resolution the networks expect."""

    def size_multiple(self) -> int | None:
        """Input sizes the networks accept besides ``size``: multiples of this number (None: ``size`` only)."""
        return None

    def check_size(self, size: int) -> int:
        multiple = self.size_multiple()
        if size == self.size or (multiple is not None and size > 0 and size % multiple == 0):
            return size
        accepted = f"a multiple of {multiple}" if multiple else f"exactly {self.size}"
        raise ModelError(f"this {self.family} model needs an input size of {accepted} (got {size})")

    # -- inference ----------------------------------------------------------------------------
    @abstractmethod
    def encode_source(self, source: Tensor) -> Any:
        """Everything that depends only on the source image (1, 3, H, W); computed once per run."""

    @abstractmethod
    def encode_driving(self, frames: Tensor) -> Motion:
        """Motion representation of a batch of driving frames (B, 3, H, W)."""

    @abstractmethod
    def transfer(self, source_state: Any, driving: Motion, initial: Motion, options: TransferOptions) -> Motion:
        """Motion to render for each driving frame, given the first driving frame's motion ``initial``."""

    @abstractmethod
    def generate(self, source_state: Any, motion: Motion) -> Tensor:
        """Frames (B, 3, H, W) in [0, 1] of the source moved by ``motion`` (batch B)."""

    def keypoints(self, motion: Motion) -> Tensor | None:
        """Keypoints (B, K, 2) in [-1, 1] (x, y) for drawing, or None for keypoint-free families."""
        return None

    def source_motion(self, source_state: Any) -> Motion:
        """The source image's own motion representation (used to pick the best-aligned driving frame)."""
        raise ModelError(f"{self.family} cannot compare source and driving poses")

    def pose_distance(self, source: Motion, driving: Motion) -> Tensor:
        """(B,) distance between the source pose and each driving frame's pose, scale-normalised."""
        raise ModelError(f"{self.family} cannot compare source and driving poses")

    def reconstruction_options(self) -> TransferOptions:
        """Transfer used by the papers' reconstruction protocol (raw driving motion)."""
        return TransferOptions(mode="absolute", adapt_scale=False)

    def validate_options(self, options: TransferOptions) -> TransferOptions:
        """Reject options this family cannot honour; fill in defaults."""
        if options.adapt_scale and not self.supports_adapt_scale:
            raise ModelError(f"--adapt-scale has no meaning for {self.family} models; use --no-adapt-scale")
        return options


def load_strict(module: nn.Module, state_dict: Any, what: str) -> None:
    """``load_state_dict(strict=True)`` with a one-line explanation when the checkpoint does not fit.

    BatchNorm's ``num_batches_tracked`` counters (absent from checkpoints saved before torch 0.4.1, and unused
    in eval) are the only entries allowed to be missing: the module keeps its own.
    """
    if not isinstance(state_dict, dict):
        raise ModelError(f"checkpoint entry {what!r} is not a state dict")
    expected = module.state_dict()
    counters = {k: v for k, v in expected.items() if k.endswith(".num_batches_tracked") and k not in state_dict}
    state_dict = {**state_dict, **counters}
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [k for k in expected if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or mismatched:
        found = {"missing": missing, "unexpected": unexpected, "shape mismatch": mismatched}
        problems = [f"{len(keys)} {label} (e.g. {keys[0]})" for label, keys in found.items() if keys]
        raise ModelError(f"checkpoint {what!r} does not fit the config: {', '.join(problems)}")
    module.load_state_dict(state_dict, strict=True)


class KeypointModel(AnimationModel):
    """Families whose motion is a set of keypoints (FOMM, Monkey-Net): networks ``kp_detector`` and
    ``generator``, saved under those names in the official checkpoints; the source state has a ``kp`` motion."""

    #: the motion entry holding the (B, K, 2) keypoint locations
    kp_key: ClassVar[str]
    #: a state-dict key only this family's generator has
    generator_marker: ClassVar[str]
    kp_detector: nn.Module
    generator: nn.Module

    @classmethod
    def claims_checkpoint(cls, checkpoint: dict[str, Any]) -> bool:
        generator = checkpoint.get("generator")
        return isinstance(generator, dict) and cls.generator_marker in generator

    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        for name in ("generator", "kp_detector"):
            if name not in checkpoint:
                raise ModelError(f"not a {self.family} checkpoint: it has no {name!r} entry")
        load_strict(self.generator, checkpoint["generator"], "generator")
        load_strict(self.kp_detector, checkpoint["kp_detector"], "kp_detector")

    def keypoints(self, motion: Motion) -> Tensor:
        return motion[self.kp_key]

    def source_motion(self, source_state: Any) -> Motion:
        return source_state.kp

    def pose_distance(self, source: Motion, driving: Motion) -> Tensor:
        from animcli.transfer import pose_distance

        return pose_distance(source[self.kp_key], driving[self.kp_key])
