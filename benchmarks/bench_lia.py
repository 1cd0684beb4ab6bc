"""LIA throughput and peak memory: animcli's streaming Animator vs the official demo's per-frame loop.

One process, one full-size LIA generator (the shipped lia-vox config: 256, style 512, motion 20) with random
weights, the same random frames for both paths, relative mode:

    .venv/bin/python benchmarks/bench_lia.py [--frames 16] [--warmup 2] [--threads 2] [--batch-size N]

The baseline is ``run_demo.py``'s loop: the motion code of the first driving frame once, then the whole
generator per frame, batch 1, so the source image is encoded again for every frame. Ours encodes the source
once and animates batches of driving frames. Peak RSS is measured per path by resetting the kernel's
high-water mark (/proc/self/clear_refs) before each; both paths' frames are compared at the end.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from animcli.inference.animator import Animator
from animcli.models.base import TransferOptions
from animcli.models.configs import resolve_config
from animcli.models.lia import LiaModel, to_signed_range

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak_rss() -> None:
    CLEAR_REFS.write_text("5")  # "5" resets VmHWM (Linux ≥ 4.0)


def peak_rss_mib() -> float:
    line = next(line for line in STATUS.read_text().splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def official_demo_loop(model: LiaModel, source: np.ndarray, driving: np.ndarray) -> np.ndarray:
    """run_demo.py: h_start from the first frame, then G(source, frame, h_start) one frame at a time."""
    generator = model.gen

    def signed(images: np.ndarray) -> torch.Tensor:
        return to_signed_range(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)

    source_signed = signed(source[None])
    frames = []
    with torch.no_grad():
        alpha_start = generator.enc.motion(signed(driving[:1]))
        for frame in driving:
            out = generator(source_signed, signed(frame[None]), alpha_start)
            frames.append(((out.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy())
    return np.concatenate(frames)


def streaming_animator(model: LiaModel, source: np.ndarray, driving: np.ndarray, batch_size: int | None) -> np.ndarray:
    animator = Animator(model, TransferOptions(mode="relative"), batch_size=batch_size, precision="fp32")
    return np.concatenate([batch.prediction for batch in animator.animate(source, iter(driving))])


def measure(name: str, run: Callable[[np.ndarray], np.ndarray], source_warmup: np.ndarray,
            driving: np.ndarray) -> tuple[np.ndarray, float, float]:
    if len(source_warmup):
        run(source_warmup)
    reset_peak_rss()
    start = time.perf_counter()
    frames = run(driving)
    fps = len(driving) / (time.perf_counter() - start)
    peak = peak_rss_mib()
    print(f"  {name:36s} {fps:6.3f} frames/s   peak RSS {peak:6.0f} MiB")
    return frames, fps, peak


def report(official: np.ndarray, official_fps: float, official_peak: float, ours: np.ndarray, our_fps: float,
           our_peak: float) -> None:
    print(f"seconds per frame: official {1 / official_fps:.2f}, animcli {1 / our_fps:.2f}")
    print(f"throughput ratio (animcli / official): {our_fps / official_fps:.2f}x")
    print(f"peak RSS ratio (animcli / official): {our_peak / official_peak:.2f}")
    print(f"max |frame difference| between the two paths: {np.abs(ours - official).max():.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the Animator's (1 on CPU)")
    parser.add_argument("--config", default="lia-vox")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = LiaModel(resolve_config(args.config)).eval()
    rng = np.random.default_rng(0)
    source, *driving = rng.integers(0, 256, size=(args.frames + 1, model.size, model.size, 3), dtype=np.uint8)
    driving = np.stack(driving)
    warmup = driving[: args.warmup]

    print(f"LIA {args.config} (random weights), {args.frames} frames, CPU, {args.threads} threads")
    official, official_fps, official_peak = measure(
        "official loop (source re-encoded)", lambda d: official_demo_loop(model, source, d), warmup, driving)
    ours, our_fps, our_peak = measure(
        f"animcli Animator (batch {args.batch_size or 'auto'})",
        lambda d: streaming_animator(model, source, d, args.batch_size), warmup, driving)
    report(official, official_fps, official_peak, ours, our_fps, our_peak)


if __name__ == "__main__":
    main()
