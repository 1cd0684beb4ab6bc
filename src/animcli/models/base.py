"""The one interface every model family implements.

``animate``, ``eval`` and ``train`` only talk to :class:`AnimationModel`; nothing outside
``models/<family>/`` branches on a family name. A family is an ``AnimationModel`` subclass described in
``models/families.py``.

Conventions at this boundary:
* images are float tensors (B, 3, H, W), RGB in [0, 1], at the model's input size (``model.size``);
  a family that works in another range (LIA: [-1, 1]) converts inside;
* a *motion* is a ``dict[str, Tensor]`` whose tensors all have the frame batch as their first axis, so the
  generic code can slice (``motion_slice``) and concatenate it without knowing what it holds;
* the *source state* is whatever the family caches per source image (keypoints, appearance features…);
  it is computed once per run by ``encode_source``.
"""

from __future__ import annotations

import itertools
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from animcli.common.choices import Normalization, TransferMode
from animcli.common.errors import ModelError
from animcli.models.graphs import InferenceGraphs, generic_graphs

Motion = dict[str, Tensor]


@dataclass(frozen=True)
class TransferOptions:
    """How driving motion is transferred onto the source.

    mode: see ``animcli.common.choices``.
    adapt_scale: scale relative motion by the ratio of source to driving keypoint spread
    (``None`` = the family's default; families without the notion reject ``True``).
    edits: (direction index, offset) pairs added to the source's motion code before transfer (families with a
    motion dictionary of editable directions; others reject them).
    reconstruction: the papers' reconstruction protocol, where the driving frame may be seen with the source
    (TPSMM's background motion predictor compares the two; families without such a network ignore it).
    """

    mode: TransferMode = "relative"
    adapt_scale: bool | None = None
    edits: tuple[tuple[int, float], ...] = ()
    reconstruction: bool = False


@dataclass(frozen=True)
class PredictionSettings:
    """What a model's motion predictor (image-to-video) was trained for."""

    init_frames: int  # observed frames the predicted motion continues
    num_frames: int  # the sequence length it learnt to predict (the default output length)


def motion_slice(motion: Motion, index: slice | int) -> Motion:
    if isinstance(index, int):
        index = slice(index, index + 1)
    return {key: value[index] for key, value in motion.items()}


def motion_cat(motions: list[Motion]) -> Motion:
    """Motions of several batches as one batch."""
    return {key: torch.cat([motion[key] for motion in motions]) for key in motions[0]}


def check_weights_fit(model: nn.Module) -> None:
    """Refuse, in one line, a model whose weights alone would not fit in the memory available (a config asking
    for networks far wider than any published one): ``model`` may be built on the meta device, so nothing has
    been allocated yet."""
    from animcli.common.memory import available_memory, describe_bytes

    needed = sum(t.numel() * t.element_size() for t in itertools.chain(model.parameters(), model.buffers()))
    available = available_memory()
    if available is not None and needed > available:
        raise ModelError(f"the config describes networks with {describe_bytes(needed)} of weights, more than the "
                         f"{describe_bytes(available)} of memory available; check its sizes")


class AnimationModel(nn.Module, ABC):
    """A family's inference model: encode source, encode driving frames, transfer, generate."""

    family: ClassVar[str]
    #: whether ``TransferOptions.adapt_scale`` means anything for this family.
    supports_adapt_scale: ClassVar[bool] = True
    #: output normalisations (``animcli.common.choices``) this family's official code defines.
    normalizations: ClassVar[tuple[Normalization, ...]] = ("frame",)
    #: whether the source's motion can be edited along named directions (``TransferOptions.edits``).
    supports_edits: ClassVar[bool] = False
    #: driving-motion entries that vary continuously with the pose and may be filtered over time (``--smooth``);
    #: None: every entry ``encode_driving`` returns.
    smoothable_motion: ClassVar[tuple[str, ...] | None] = None
    #: the transfer modes (``animcli.common.choices``) this family implements.
    transfer_modes: ClassVar[tuple[TransferMode, ...]] = ("relative", "absolute")

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        #: transfer mode when the user names none; ``load_model`` replaces it with the registry's, if any.
        self.default_mode: TransferMode = self.config_default_mode(config)

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
    def config_default_mode(cls, config: dict[str, Any]) -> TransferMode:
        """The transfer mode the family's official demo uses with this config."""
        return "relative"

    @classmethod
    def infer_config(cls, checkpoint: dict[str, Any]) -> dict[str, Any] | None:
        """A config that fits a checkpoint given without one (e.g. from its tensor shapes), or None."""
        return None

    @classmethod
    def from_checkpoint(cls, config: dict[str, Any], checkpoint: dict[str, Any]) -> AnimationModel:
        """The model of ``config`` with ``checkpoint`` loaded (families with large weights override this to
        skip the random initialisation the checkpoint replaces anyway)."""
        with torch.device("meta"):  # the networks' shapes alone: checked before any weight is allocated
            shell = cls(config)
        check_weights_fit(shell)
        with warnings.catch_warnings():  # torch notes that copying into meta tensors does nothing: the point here
            warnings.simplefilter("ignore")
            shell.load_checkpoint(checkpoint)  # keys, shapes and dtypes, refused in one line before any allocation
        model = cls(config)
        model.load_checkpoint(checkpoint)
        return model

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

    def pose_vectors(self, motion: Motion) -> Tensor:
        """(B, P, D): the points (or code vectors) whose movement over time is the driving pose; jitter is
        measured on them. Default: the keypoints, else the smoothable entries as one vector per frame."""
        keypoints = self.keypoints(motion)
        if keypoints is not None:
            return keypoints
        keys = [key for key in motion if self.smoothable_motion is None or key in self.smoothable_motion]
        return torch.cat([motion[key].flatten(1) for key in keys], dim=1)[:, None]

    def official_frame_source(self, source: Tensor, source_state: Any) -> Any:
        """The source state as the official demo's per-frame loop recomputes it (``animcli bench``'s baseline):
        by default all of it, since the official generators encode the source again on every call."""
        return self.encode_source(source)

    def source_motion(self, source_state: Any) -> Motion:
        """The source image's own motion representation (used to pick the best-aligned driving frame)."""
        raise ModelError(f"{self.family} cannot compare source and driving poses")

    def pose_distance(self, source: Motion, driving: Motion) -> Tensor:
        """(B,) distance between the source pose and each driving frame's pose, scale-normalised."""
        raise ModelError(f"{self.family} cannot compare source and driving poses")

    def motion_direction(self, name: str) -> int:
        """Index of the motion direction ``name`` (a number or a documented name) that edits may change."""
        raise self._no_edits()

    def sweep(self, amplitudes: tuple[tuple[int, float], ...]) -> tuple[list[tuple[tuple[int, float], ...]], float]:
        """Per-frame edits of a video that swings the directions out to ``amplitudes`` (direction index, offset)
        and back, and its frame rate."""
        raise self._no_edits()

    def _no_edits(self) -> ModelError:
        return ModelError(f"{self.family} models have no editable motion directions (--edit needs a model with a "
                          "motion dictionary of named directions, such as liax)")

    def prediction_settings(self) -> PredictionSettings:
        """The motion predictor's settings; raises ``ModelError`` when the model has no predictor."""
        raise ModelError(f"{self.family} models cannot generate a video from a still image")

    def predict_motion(self, observed: Motion, num_frames: int) -> Motion:
        """Image-to-video: the motion of ``num_frames`` frames continuing the motion of the T observed frames
        (batch axis = frames), the observed frames first and unchanged."""
        raise ModelError(f"{self.family} models cannot generate a video from a still image")

    def reconstruction_options(self) -> TransferOptions:
        """Transfer used by the papers' reconstruction protocol (raw driving motion)."""
        return TransferOptions(mode="absolute", adapt_scale=False, reconstruction=True)

    def check_normalization(self, normalization: Normalization) -> None:
        """Reject an output normalisation this family's official code does not define."""
        if normalization not in self.normalizations:
            raise ModelError(f"--normalize {normalization} has no meaning for {self.family} models "
                             f"(they support: {', '.join(self.normalizations)})")

    def inference_graphs(self, size: int) -> InferenceGraphs:
        """Source encoder, driving encoder and renderer as traceable modules at input ``size`` (exported to
        ONNX by the engine). The generic split calls this model's own methods; override for another one."""
        return generic_graphs(self, size)

    def validate_options(self, options: TransferOptions) -> TransferOptions:
        """Reject options this family cannot honour; fill in defaults."""
        if options.mode not in self.transfer_modes:
            raise ModelError(f"--mode {options.mode} has no meaning for {self.family} models "
                             f"(their modes: {', '.join(self.transfer_modes)})")
        if options.adapt_scale and not self.supports_adapt_scale:
            raise ModelError(f"--adapt-scale has no meaning for {self.family} models; use --no-adapt-scale")
        if options.edits and not self.supports_edits:
            raise self._no_edits()
        return options
