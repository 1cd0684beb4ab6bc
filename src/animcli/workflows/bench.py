"""``animcli bench``: the official-style per-frame loop against the engine, in one process, interleaved.

The official demos run every frame on its own (batch 1) through the whole model, so the source image is
encoded again for every frame, in eager torch with NCHW weights. The engine encodes the source once, runs the
chosen backend and overlaps decoding with compute. Both paths animate the same frames with the same weights
(the baseline on its own NCHW copy of the model); they alternate in chunks of a few frames so that load from
other processes hits both alike. Peak RSS is the kernel's high-water mark, reset before each chunk.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from animcli.inference.animator import Animator
from animcli.models.base import AnimationModel, TransferOptions, motion_slice

#: frames per turn of each path; small enough that both see the same machine load.
CHUNK_FRAMES = 4
STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class PathResult:
    name: str
    frames: int
    seconds: float
    fps: float
    peak_rss_mib: float


@dataclass
class BenchResult:
    family: str
    size: int
    mode: str
    backend: str
    threads: int
    batch_size: int
    official: PathResult
    engine: PathResult
    ratio: float  # engine fps / official fps
    max_abs_diff: float  # between the two paths' predictions, values in [0, 1]
    gflop_per_frame: float  # the engine's per-frame work (driving encoder + renderer), counted by torch
    engine_gflops: float  # achieved: gflop_per_frame × engine fps

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def synthetic_frames(count: int, size: int, seed: int = 0) -> np.ndarray:
    """(count + 1, size, size, 3) uint8: a smooth random texture panned diagonally; frame 0 is the source."""
    rng = np.random.default_rng(seed)
    span = size + count + 1
    texture = cv2.resize(rng.integers(0, 256, (span // 16 + 2, span // 16 + 2, 3), dtype=np.uint8), (span, span),
                         interpolation=cv2.INTER_CUBIC)
    return np.stack([texture[t:t + size, t:t + size] for t in range(count + 1)])


def reset_peak_rss() -> None:
    try:
        CLEAR_REFS.write_text("5")  # resets VmHWM (Linux ≥ 4.0)
    except OSError:
        pass  # elsewhere the peak is the process's lifetime peak


def peak_rss_mib() -> float:
    for line in STATUS.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class OfficialLoop:
    """The official demos' loop over the model interface: per frame, batch 1, the source encoded again as the
    official generators do (what the demos compute once, like FOMM's source keypoints, is computed once)."""

    def __init__(self, model: AnimationModel, source: np.ndarray, options: TransferOptions) -> None:
        self.model = copy.deepcopy(model)  # NCHW weights: the engine converts its model's in place
        self.source = _as_tensor(source[None])
        self.options = options
        self.initial = None
        with torch.no_grad():
            self.first_state = self.model.encode_source(self.source)

    @torch.no_grad()
    def frame(self, frame: np.ndarray) -> np.ndarray:
        source_state = self.model.official_frame_source(self.source, self.first_state)
        motion = self.model.encode_driving(_as_tensor(frame[None]))
        if self.initial is None:
            self.initial = motion_slice(motion, 0)
        transferred = self.model.transfer(source_state, motion, self.initial, self.options)
        return self.model.generate(source_state, transferred).clamp(0, 1).permute(0, 2, 3, 1).numpy()[0]


def _as_tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255)


def count_gflop(animator: Animator, frames: np.ndarray) -> float:
    """Floating-point operations of one frame's driving encoding and rendering (the per-frame work)."""
    model = animator.model
    source_state = animator.encode_source(frames[0])
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        motion = model.encode_driving(animator.to_tensor(frames[1:2]))
        model.generate(source_state, model.transfer(source_state, motion, motion, animator.options))
    return counter.get_total_flops() / 1e9


def run_bench(model: AnimationModel, frames: int, *, backend: str = "auto", threads: int | None = None,
              batch_size: int | str | None = None, size: int | None = None,
              options: TransferOptions | None = None) -> BenchResult:
    """Animate ``frames`` synthetic frames both ways, interleaved, and compare speed, memory and outputs."""
    options = options or TransferOptions(mode=model.default_mode)
    size = size or model.size
    video = synthetic_frames(frames + 1, size)  # frame 0 the source, frame 1 warms both paths up
    official = OfficialLoop(model, video[0], options)
    animator = Animator(model, options, batch_size=batch_size, size=size, backend=backend, threads=threads)
    engine_frames = _engine_frames(animator, video)
    official.frame(video[1])
    next(engine_frames)
    timings = {"official": [0.0, 0.0], "engine": [0.0, 0.0]}  # seconds, peak RSS
    max_diff = 0.0
    for start in range(2, len(video), CHUNK_FRAMES):
        chunk = video[start:start + CHUNK_FRAMES]
        baseline = _timed(timings["official"], lambda chunk=chunk: [official.frame(frame) for frame in chunk])
        ours = _timed(timings["engine"], lambda chunk=chunk: list(itertools.islice(engine_frames, len(chunk))))
        max_diff = max(max_diff, max(float(np.abs(a - b).max()) for a, b in zip(baseline, ours, strict=True)))
    results = {name: PathResult(name, frames, seconds, frames / seconds, peak)
               for name, (seconds, peak) in timings.items()}
    gflop = count_gflop(animator, video)
    return BenchResult(family=model.family, size=size, mode=options.mode, backend=animator.backend.name,
                       threads=torch.get_num_threads(), batch_size=animator.batch_size,
                       official=results["official"], engine=results["engine"],
                       ratio=results["engine"].fps / results["official"].fps, max_abs_diff=max_diff,
                       gflop_per_frame=gflop, engine_gflops=gflop * results["engine"].fps)


def _engine_frames(animator: Animator, video: np.ndarray) -> Iterator[np.ndarray]:
    """The engine's predictions one frame at a time, from one streaming run over the whole video."""
    for batch in animator.animate(video[0], iter(video[1:])):
        yield from batch.prediction


def _timed(totals: list[float], work: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
    reset_peak_rss()
    start = time.perf_counter()
    result = work()
    totals[0] += time.perf_counter() - start
    totals[1] = max(totals[1], peak_rss_mib())
    return result
