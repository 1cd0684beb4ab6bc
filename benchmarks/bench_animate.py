"""Throughput and peak memory: animcli's streaming Animator vs the official demo's per-frame loop.

Both run the full FOMM vox-256 architecture with the same random weights on the same frames, each in its
own child process (so peak RSS is measured per path), launched side by side from this one script:

    .venv/bin/python benchmarks/bench_animate.py [--frames 16] [--threads 2] [--batch-size N] [--device cpu]

The baseline reproduces ``demo.make_animation``: the whole driving video held in memory as float64 like
demo.py, batch 1, and the full generator per frame (so the source is re-encoded and re-downsampled for every
frame). Ours streams frames, batches them and encodes the source once.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np
import torch

from animcli.configs import resolve_config

WARMUP_FRAMES = 2


def _random_model(config_name: str, device: str):
    from animcli.models.fomm import FommModel

    torch.manual_seed(0)
    return FommModel(resolve_config(config_name)).eval().to(device)


def _frames(count: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(count + 1, size, size, 3), dtype=np.uint8)


def run_official_loop(args: argparse.Namespace, queue: mp.Queue) -> None:
    from animcli.models.base import motion_slice
    from animcli.models.keypoint_transfer import normalize_kp

    torch.set_num_threads(args.threads)
    model = _random_model(args.config, args.device)
    frames = _frames(args.frames, model.size)
    source = torch.tensor(frames[0] / 255.0, dtype=torch.float32).permute(2, 0, 1)[None].to(args.device)
    # demo.py: every frame resized to float64 and stacked into one (1, 3, T, H, W) tensor up front.
    video = torch.tensor(np.stack([f / 255.0 for f in frames[1:]])[None]).permute(0, 4, 1, 2, 3)

    def make_animation(video: torch.Tensor) -> list[np.ndarray]:
        with torch.no_grad():
            kp_source = model.kp_detector(source)
            kp_initial = model.kp_detector(video[:, :, 0].float().to(args.device))
            predictions = []
            for t in range(video.shape[2]):
                kp_driving = model.kp_detector(video[:, :, t].float().to(args.device))
                kp_norm = normalize_kp(kp_source, kp_driving, motion_slice(kp_initial, 0), True, True, True)
                out = model.generator(source, kp_driving=kp_norm, kp_source=kp_source)
                predictions.append(out["prediction"].permute(0, 2, 3, 1).cpu().numpy()[0])
        return predictions

    make_animation(video[:, :, :WARMUP_FRAMES])  # untimed, like the spec's speed anchor
    start = time.perf_counter()
    make_animation(video)
    _report(queue, "official per-frame loop", start, args.frames)


def run_animcli(args: argparse.Namespace, queue: mp.Queue) -> None:
    from animcli.animate import Animator
    from animcli.models.base import TransferOptions

    torch.set_num_threads(args.threads)
    model = _random_model(args.config, args.device)
    frames = _frames(args.frames, model.size)
    animator = Animator(model, TransferOptions("relative", True), batch_size=args.batch_size,
                        fp16=args.device.startswith("cuda"))
    for _ in animator.animate(frames[0], iter(frames[1:1 + WARMUP_FRAMES])):  # untimed warm-up
        pass
    start = time.perf_counter()
    count = sum(len(batch.prediction_uint8) for batch in animator.animate(frames[0], iter(frames[1:])))
    assert count == args.frames
    _report(queue, f"animcli Animator (batch {animator.batch_size})", start, args.frames)


def _report(queue: mp.Queue, name: str, start: float, frames: int) -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_mib = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    queue.put((name, frames / elapsed, peak_mib, gpu_mib))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the Animator's (1 on CPU, 8 on CUDA)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--config", default="fomm-vox-256")
    args = parser.parse_args()
    context = mp.get_context("spawn")
    results = []
    for target in (run_official_loop, run_animcli):
        queue = context.Queue()
        process = context.Process(target=target, args=(args, queue))
        process.start()
        results.append(queue.get())
        process.join()
    print(f"{args.config}, {args.frames} frames, device {args.device}, {args.threads} threads")
    for name, fps, peak, gpu in results:
        gpu_text = f", peak GPU {gpu:.0f} MiB" if gpu else ""
        print(f"  {name:32s} {fps:6.2f} frames/s   peak RSS {peak:7.0f} MiB{gpu_text}")
    (_, base_fps, base_peak, _), (_, our_fps, our_peak, _) = results
    print(f"throughput ratio (animcli / official loop): {our_fps / base_fps:.2f}x")
    print(f"peak RSS ratio (animcli / official loop): {our_peak / base_peak:.2f}")


if __name__ == "__main__":
    main()
