"""GPU throughput of the engine: fps at fp32, fp16 and (Ampere and later) bf16 for FOMM vox-256, LIA-256 and
Monkey-Net vox (256), full-size configs with seeded random weights, plus each reduced precision's max and mean
difference from fp32 in grey levels (bf16 on an older GPU is reported as refused, as ``--precision bf16`` is).

Run by ``benchmarks/gpu_check.sh`` on a CUDA machine:

    python benchmarks/gpu_check.py [--frames 256] [--batch-size auto] [--compile] [--configs ...]
                                   [--precisions fp32 fp16 bf16]

Each configuration animates the same synthetic frames through ``Animator`` (torch backend, cudnn benchmark,
pinned host memory, non-blocking copies), after an untimed warm-up pass over a few batches; the clock covers
the whole loop including host→device copies and the results' copy back, with the GPU synchronised.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from animcli.common.devices import resolve_precision
from animcli.common.errors import ModelError
from animcli.inference.animator import Animator
from animcli.inference.batching import parse_batch_size
from animcli.weights.loading import random_model
from animcli.workflows.bench import synthetic_frames

CONFIGS = ("fomm-vox-256", "lia-vox", "monkeynet-vox")
WARMUP_BATCHES = 3


def measure(config: str, frames: np.ndarray, precision: str, batch_size: int | str | None,
            compile: bool) -> tuple[float, int, np.ndarray]:
    """(frames/s, batch size, the first batch's predictions)."""
    model = random_model(config, device="cuda")
    animator = Animator(model, batch_size=batch_size, precision=precision, backend="torch", compile=compile)
    assert animator.precision == precision, (animator.precision, precision)
    warmup = frames[:1 + WARMUP_BATCHES * animator.batch_size]
    for _ in animator.animate(warmup[0], iter(warmup[1:])):
        pass
    torch.cuda.synchronize()
    start = time.perf_counter()
    batches = animator.animate(frames[0], iter(frames[1:]))
    first = next(batches).prediction
    for _ in batches:
        pass
    torch.cuda.synchronize()
    return (len(frames) - 1) / (time.perf_counter() - start), animator.batch_size, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--batch-size", default="auto")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16", "bf16"], choices=["fp32", "fp16", "bf16"])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {args.frames} frames, "
          f"batch {args.batch_size}, compile {args.compile}")
    device = torch.device("cuda")
    capability = torch.cuda.get_device_capability(device)
    precisions = []
    for precision in args.precisions:
        try:
            precisions.append(resolve_precision(device, precision))
        except ModelError as refusal:
            print(f"  {precision}: refused on compute capability {capability[0]}.{capability[1]}: {refusal}")
    for config in args.configs:
        size = random_model(config, device="cpu").size
        frames = synthetic_frames(args.frames, size)
        results = {precision: measure(config, frames, precision, parse_batch_size(args.batch_size), args.compile)
                   for precision in precisions}
        line = ", ".join(f"{precision} {fps:8.1f} fps (batch {batch})"
                         for precision, (fps, batch, _) in results.items())
        differences = "; ".join(
            f"{precision} vs fp32 max/mean {np.abs(result[2] - results['fp32'][2]).max() * 255:.2f}/"
            f"{np.abs(result[2] - results['fp32'][2]).mean() * 255:.3f} grey levels"
            for precision, result in results.items() if precision != "fp32" and "fp32" in results)
        print(f"  {config:16s} {size} px: {line}; {differences}")
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
