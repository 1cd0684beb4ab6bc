"""``animcli bench``: the official-style per-frame loop against the engine, in one process, interleaved.

The official demos run every frame on its own (batch 1) through the whole model, so the source image is
encoded again for every frame, in eager torch with NCHW weights, in float32. The engine encodes the source once,
runs the chosen backend in the chosen precision and overlaps decoding with compute. Every path animates the same
frames with the same weights (the baseline on its own NCHW copy of the model); they take turns in paired rounds
of a few frames each (the order rotating from round to round) so that load from other processes hits them alike.
Peak RSS is the kernel's high-water mark, reset before each turn. Differences are measured against the official
loop's float32 output, in grey levels (0-255).

``--compare`` runs every available backend in every precision this machine computes fast (fp32, and bf16 where
the CPU has bf16 units) side by side, and every run records its speeds (``measurements``) so that
``--backend auto`` picks the fastest backend here and a fp32 run can say what bf16 would gain.
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

from animcli.common.cpu import cpu_features
from animcli.common.devices import resolve_precision
from animcli.common.errors import ModelError
from animcli.inference.animator import Animator
from animcli.inference.measurements import Measurement
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
    precision: str
    threads: int
    batch_size: int
    official: PathResult
    engine: PathResult
    ratio: float  # engine fps / official fps
    max_abs_diff: float  # between the two paths' predictions, values in [0, 1]
    mean_abs_diff: float
    gflop_per_frame: float  # the engine's per-frame work (driving encoder + renderer), counted by torch
    engine_gflops: float  # achieved: gflop_per_frame × engine fps

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class VariantResult:
    """One backend in one precision, measured in the same paired rounds as the official loop."""

    backend: str
    precision: str
    path: PathResult
    ratio: float  # fps / the official loop's fps
    max_grey: float  # largest |difference| from the official float32 output, grey levels
    mean_grey: float


@dataclass
class ComparisonResult:
    family: str
    size: int
    mode: str
    threads: int
    batch_size: int
    cpu: str  # model and bf16 units
    official: PathResult
    variants: list[VariantResult]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def fastest(self, precision: str) -> VariantResult | None:
        candidates = [variant for variant in self.variants if variant.precision == precision]
        return max(candidates, key=lambda variant: variant.path.fps) if candidates else None


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


def available_backends() -> list[str]:
    """The backends installed here (OpenVINO is an optional extra)."""
    from animcli.inference.backends.openvino_backend import openvino_version

    return ["torch", "onnxruntime", *(["openvino"] if openvino_version() else [])]


def comparison_variants(device: torch.device, backends: list[str] | None = None,
                        precisions: list[str] | None = None) -> list[tuple[str, str]]:
    """(backend, precision) pairs ``--compare`` measures: every available backend (or ``backends``) in fp32 and in
    each reduced precision this device computes fast (CPU: bf16 with bf16 units; CUDA: fp16, and bf16 from Ampere
    on), or in ``precisions``, where the backend computes it."""
    from animcli.inference.backends.onnxruntime_backend import OnnxRuntimeBackend
    from animcli.inference.backends.openvino_backend import OpenVinoBackend
    from animcli.inference.backends.torch_backend import TorchBackend

    served = {"torch": TorchBackend.precisions, "onnxruntime": OnnxRuntimeBackend.precisions,
              "openvino": OpenVinoBackend.precisions if device.type == "cpu" else ()}
    if precisions is None:
        precisions = ["fp32", *(["fp16"] if device.type == "cuda" else [])]
        try:
            precisions.append(resolve_precision(device, "bf16"))
        except ModelError:
            pass  # no bf16 units: bf16 would only be slower
    chosen = backends or available_backends()
    return [(backend, precision) for precision in precisions for backend in chosen
            if precision in served[backend] and (device.type == "cpu" or backend == "torch")]


def run_bench(model: AnimationModel, frames: int, *, backend: str = "auto", precision: str = "auto",
              threads: int | None = None, batch_size: int | str | None = None, size: int | None = None,
              options: TransferOptions | None = None) -> BenchResult:
    """Animate ``frames`` synthetic frames both ways, interleaved, and compare speed, memory and outputs."""
    options = options or TransferOptions(mode=model.default_mode)
    size = size or model.size
    video = synthetic_frames(frames + 1, size)  # frame 0 the source, frame 1 warms both paths up
    official = OfficialLoop(model, video[0], options)
    animator = Animator(model, options, batch_size=batch_size, size=size, backend=backend, precision=precision,
                        threads=threads)
    results, differences = _paired_rounds(official, {"engine": animator}, video)
    gflop = count_gflop(animator, video)
    engine, max_diff, mean_diff = results["engine"], *differences["engine"]
    return BenchResult(family=model.family, size=size, mode=options.mode, backend=animator.backend.name,
                       precision=animator.precision, threads=torch.get_num_threads(), batch_size=animator.batch_size,
                       official=results["official"], engine=engine, ratio=engine.fps / results["official"].fps,
                       max_abs_diff=max_diff, mean_abs_diff=mean_diff, gflop_per_frame=gflop,
                       engine_gflops=gflop * engine.fps)


def run_comparison(model: AnimationModel, frames: int, variants: list[tuple[str, str]], *,
                   threads: int | None = None, batch_size: int | str | None = None, size: int | None = None,
                   options: TransferOptions | None = None) -> ComparisonResult:
    """The official loop and every (backend, precision) of ``variants`` on the same frames, in paired rounds."""
    if not variants:
        raise ModelError("nothing to compare: no available backend computes the precisions asked for")
    options = options or TransferOptions(mode=model.default_mode)
    size = size or model.size
    video = synthetic_frames(frames + 1, size)
    official = OfficialLoop(model, video[0], options)
    animators = {f"{backend} {precision}": Animator(model, options, batch_size=batch_size, size=size,
                                                    backend=backend, precision=precision, threads=threads)
                 for backend, precision in variants}
    results, differences = _paired_rounds(official, animators, video)
    reference = results["official"]
    measured = [VariantResult(animator.backend.name, animator.precision, results[name],
                              results[name].fps / reference.fps, differences[name][0] * 255,
                              differences[name][1] * 255)
                for name, animator in animators.items()]
    first = next(iter(animators.values()))
    return ComparisonResult(family=model.family, size=size, mode=options.mode, threads=torch.get_num_threads(),
                            batch_size=first.batch_size, cpu=cpu_features().describe(), official=reference,
                            variants=measured)


def measurements_of(result: BenchResult | ComparisonResult) -> list[Measurement]:
    """What a bench run measured, as records for ``--backend auto`` and the bf16 hint."""
    cpu = cpu_features().model
    if isinstance(result, BenchResult):
        return [Measurement(cpu, result.family, result.size, result.precision, result.backend, result.threads,
                            result.engine.fps, result.official.fps, result.max_abs_diff * 255,
                            result.mean_abs_diff * 255)]
    return [Measurement(cpu, result.family, result.size, variant.precision, variant.backend, result.threads,
                        variant.path.fps, result.official.fps, variant.max_grey, variant.mean_grey)
            for variant in result.variants]


def _paired_rounds(official: OfficialLoop, animators: dict[str, Animator], video: np.ndarray
                   ) -> tuple[dict[str, PathResult], dict[str, tuple[float, float]]]:
    """Every path warmed up on frame 1, then rounds of ``CHUNK_FRAMES`` frames in which each path takes one turn
    (the order rotating by one each round); per path its result and its (max, mean) |difference| from the
    official output, values in [0, 1]."""
    streams = {name: _engine_frames(animator, video) for name, animator in animators.items()}
    official.frame(video[1])
    for stream in streams.values():
        next(stream)
    names = ["official", *streams]
    timings = {name: [0.0, 0.0] for name in names}  # seconds, peak RSS
    worst = dict.fromkeys(streams, 0.0)
    total = dict.fromkeys(streams, 0.0)
    counted = 0
    for round_index, start in enumerate(range(2, len(video), CHUNK_FRAMES)):
        chunk = video[start:start + CHUNK_FRAMES]
        outputs = {}
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            outputs[name] = np.stack(_timed(timings[name], _turn(official, streams.get(name), chunk)))
        counted += outputs["official"].size
        for name in streams:
            difference = np.abs(outputs[name] - outputs["official"])
            worst[name] = max(worst[name], float(difference.max()))
            total[name] += float(difference.sum(dtype=np.float64))
    frames = len(video) - 2
    results = {name: PathResult(name, frames, seconds, frames / seconds, peak)
               for name, (seconds, peak) in timings.items()}
    return results, {name: (worst[name], total[name] / counted) for name in streams}


def _turn(official: OfficialLoop, stream: Iterator[np.ndarray] | None, chunk: np.ndarray
          ) -> Callable[[], list[np.ndarray]]:
    """One path's work in a round: the official loop's (``stream`` None) or the next frames of an engine stream."""
    if stream is None:
        return lambda: [official.frame(frame) for frame in chunk]
    return lambda: list(itertools.islice(stream, len(chunk)))


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
