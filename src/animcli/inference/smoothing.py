"""Temporal smoothing of the driving motion, so that per-frame detection noise does not shake the result.

A smoother takes one frame's motion at a time and hands back the smoothed motions that are ready, in order.
Only the entries a family declares smoothable (``AnimationModel.smoothable_motion``: keypoints and their
jacobians or covariances, LIA's motion code) are filtered; every other entry passes through unchanged.

* :class:`LookaheadSmoother` (video files): a Savitzky–Golay fit of a quadratic over the ``2N + 1`` frames
  centred on each frame. Centred means zero lag; a local quadratic follows real accelerations where a moving
  average would flatten them. It streams with a delay of ``N`` frames and never holds more than ``2N + 1``
  motions, however long the video.
* :class:`CausalSmoother` (live input): the One-Euro filter (Casiez et al., CHI 2012), which only looks back and
  raises its cutoff with speed, so slow jitter is removed while fast motion keeps little lag.

The strength ``N`` is in frames: the look-ahead window's half-width, and the One-Euro filter's time constant
at rest.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from OneEuroFilter import OneEuroFilter
from scipy.signal import savgol_coeffs
from torch import Tensor

from animcli.common.errors import AnimcliError
from animcli.models.base import Motion, motion_slice

#: Half-width of the look-ahead window in frames: removes ~85 % of white detection noise's second difference.
DEFAULT_STRENGTH = 4.0
#: Degree of the local polynomial the look-ahead smoother fits: quadratic keeps accelerations.
POLYORDER = 2
#: One-Euro speed coefficient, per motion unit per second (keypoints: half the image width per second).
ONE_EURO_BETA = 1.0


@dataclass(frozen=True)
class Smoothing:
    """How to smooth driving motion: ``strength`` in frames; ``causal`` for live input (no look-ahead)."""

    strength: float = DEFAULT_STRENGTH
    causal: bool = False

    def __post_init__(self) -> None:
        if not (self.strength >= 1 and math.isfinite(self.strength)):
            raise AnimcliError(f"--smooth-strength is in frames and must be at least 1, got {self.strength}")

    @classmethod
    def from_options(cls, smooth: bool, strength: float | None, causal: bool = False) -> Smoothing | None:
        """``--smooth`` / ``--smooth-strength`` as one value (a strength alone turns smoothing on)."""
        if not smooth and strength is None:
            return None
        return cls(strength=DEFAULT_STRENGTH if strength is None else strength, causal=causal)

    def smoother(self, keys: Collection[str] | None, fps: float) -> MotionSmoother:
        """A fresh smoother for one video; ``keys`` None smooths every motion entry."""
        if self.causal:
            return CausalSmoother(keys, fps=fps, time_constant_frames=self.strength)
        return LookaheadSmoother(keys, radius=round(self.strength))


class MotionSmoother(ABC):
    """Push one frame's motion (batch 1) at a time; get back the smoothed motions that are ready, in order."""

    def __init__(self, keys: Collection[str] | None) -> None:
        self.keys = None if keys is None else frozenset(keys)

    def smoothed_keys(self, motion: Motion) -> list[str]:
        return [key for key in motion if self.keys is None or key in self.keys]

    @abstractmethod
    def push(self, motion: Motion, timestamp: float | None = None) -> list[Motion]:
        """Add the next frame's motion (``timestamp`` in seconds when known); returns the motions now final."""

    def flush(self) -> list[Motion]:
        """The motions still held back, at the end of the video."""
        return []


@functools.lru_cache(maxsize=256)
def _savgol_weights(length: int, position: int) -> np.ndarray:
    """Weights giving the least-squares quadratic's value at ``position`` of a ``length``-frame window."""
    order = min(POLYORDER, length - 1)
    if order == length - 1:  # the polynomial goes through every point: the value itself
        weights = np.zeros(length)
        weights[position] = 1.0
        return weights
    return savgol_coeffs(length, order, pos=position, use="dot")


class LookaheadSmoother(MotionSmoother):
    """Savitzky–Golay over a centred window of ``2 * radius + 1`` frames; near the ends of the video the window
    stays inside it and the fit is evaluated off-centre (``scipy.signal.savgol_filter(mode="interp")``)."""

    def __init__(self, keys: Collection[str] | None, radius: int) -> None:
        super().__init__(keys)
        self.radius = radius
        self.window: deque[Motion] = deque(maxlen=2 * radius + 1)
        self.seen = 0
        self.emitted = 0

    def push(self, motion: Motion, timestamp: float | None = None) -> list[Motion]:
        self.window.append(motion)
        self.seen += 1
        if self.seen < self.window.maxlen:
            return []
        # The window is full: every frame up to its centre is final (at the start, all of them at once).
        first = self.seen - len(self.window)
        return self._emit_until(first + self.radius + 1)

    def flush(self) -> list[Motion]:
        return self._emit_until(self.seen)

    def _emit_until(self, end: int) -> list[Motion]:
        first = self.seen - len(self.window)
        ready = [self._fit(index - first) for index in range(self.emitted, end)]
        self.emitted = end
        return ready

    def _fit(self, position: int) -> Motion:
        weights = _savgol_weights(len(self.window), position)
        smoothed = dict(self.window[position])
        for key in self.smoothed_keys(smoothed):
            stacked = torch.stack([motion[key] for motion in self.window])
            coefficients = torch.as_tensor(weights, dtype=torch.float32, device=stacked.device)
            smoothed[key] = torch.tensordot(coefficients, stacked.float(), dims=1).to(stacked.dtype)
        return smoothed


class CausalSmoother(MotionSmoother):
    """One-Euro filter on every scalar of the smoothable entries (``OneEuroFilter``, by the method's authors).

    Its minimum cutoff is set so that the filter's time constant at rest is ``time_constant_frames`` frames:
    ``fc = fps / (2π · N)``; with frame timestamps it follows the real frame rate.
    """

    def __init__(self, keys: Collection[str] | None, fps: float, time_constant_frames: float) -> None:
        super().__init__(keys)
        self.fps = fps
        self.min_cutoff = fps / (2 * math.pi * time_constant_frames)
        self.filters: dict[str, list[OneEuroFilter]] = {}

    def push(self, motion: Motion, timestamp: float | None = None) -> list[Motion]:
        smoothed = dict(motion)
        for key in self.smoothed_keys(motion):
            smoothed[key] = self._filter(key, motion[key], timestamp)
        return [smoothed]

    def _filter(self, key: str, value: Tensor, timestamp: float | None) -> Tensor:
        flat = value.detach().float().cpu().numpy().ravel()
        filters = self.filters.setdefault(key, [
            OneEuroFilter(self.fps, mincutoff=self.min_cutoff, beta=ONE_EURO_BETA) for _ in flat])
        filtered = np.array([one_euro(float(x), timestamp) for one_euro, x in zip(filters, flat, strict=True)],
                            dtype=np.float32)
        return torch.from_numpy(filtered.reshape(value.shape)).to(device=value.device, dtype=value.dtype)


def smooth_batches(batches: Iterable[tuple[np.ndarray, Motion]], smoother: MotionSmoother
                   ) -> Iterator[tuple[np.ndarray, Motion]]:
    """Smooth a stream of (frames, motion) batches frame by frame, keeping every frame with its own smoothed
    motion; batches come out at the input's batch size (a look-ahead smoother delays them by its window)."""
    pending: deque[np.ndarray] = deque()
    out_frames: list[np.ndarray] = []
    out_motions: list[Motion] = []
    batch_size = 1

    def take(ready: list[Motion]) -> Iterator[tuple[np.ndarray, Motion]]:
        for motion in ready:
            out_frames.append(pending.popleft())
            out_motions.append(motion)
            if len(out_frames) == batch_size:
                yield from drain()

    def drain() -> Iterator[tuple[np.ndarray, Motion]]:
        if out_frames:
            yield np.stack(out_frames), concat_motions(out_motions)
            out_frames.clear()
            out_motions.clear()

    for frames, motion in batches:
        batch_size = max(batch_size, len(frames))
        for index, frame in enumerate(frames):
            pending.append(frame)
            yield from take(smoother.push(motion_slice(motion, index)))
    yield from take(smoother.flush())
    yield from drain()


def concat_motions(motions: list[Motion]) -> Motion:
    """Per-frame motions (batch 1 each) as one batch."""
    return {key: torch.cat([motion[key] for motion in motions]) for key in motions[0]}
