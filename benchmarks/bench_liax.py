"""LIA-X (full 512 px model) seconds per frame and peak memory: animcli's Animator vs the official ``animate``.

One process, one published-size LIA-X generator (the shipped liax-512 config: 910.6 M parameters, 3.6 GB in
float32) with random weights, the same random frames for both paths, relative mode:

    .venv/bin/python benchmarks/bench_liax.py [--frames 2] [--warmup 1] [--threads 2] [--chunk 2]

The baseline is the official ``Generator.animate``: the source encoded once, the driving frames in chunks of
``--chunk`` (the official default is 8; 2 keeps a 512 px chunk's activations within a shared machine's memory),
every chunk navigating with three calls of the motion dictionary, each recomputing its QR, on plain NCHW
tensors. Ours is the streaming Animator (NHWC weights, dictionary basis computed once per run, CPU batch 1).
Peak RSS per path is measured by resetting the kernel's high-water mark (/proc/self/clear_refs); it includes
the 3.6 GB of weights both paths share. Both paths' frames are compared at the end.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_lia import measure, report

from animcli.inference.animator import Animator
from animcli.models.base import TransferOptions
from animcli.models.configs import resolve_config
from animcli.models.liax import LiaxModel
from animcli.models.liax.model import to_signed_range


def official_animate(model: LiaxModel, source: np.ndarray, driving: np.ndarray, chunk: int) -> np.ndarray:
    """inference.py's ``run_animation`` → ``Generator.animate`` with no edits, per-frame clamp for comparison."""
    enc, dec = model.gen.enc, model.gen.dec

    def signed(images: np.ndarray) -> torch.Tensor:
        return to_signed_range(torch.from_numpy(images).permute(0, 3, 1, 2).float().contiguous() / 255)

    video = signed(driving)  # the official code holds the whole video in memory
    frames = []
    with torch.inference_mode():
        alpha_start = enc.motion(video[0:1])
        code, feats = enc.appearance(signed(source[None]))
        alpha_source = enc.motion_of_code(code)
        for start in range(0, len(video), chunk):
            alpha = enc.motion(video[start:start + chunk])
            batch = len(alpha)
            latent = dec.direction.navigate(code.repeat(batch, 1), alpha, alpha_start.repeat(batch, 1),
                                            alpha_source.repeat(batch, 1))  # QR recomputed in each call
            out = dec(latent, [feat.repeat(batch, 1, 1, 1) for feat in feats])
            frames.append(((out.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy())
    return np.concatenate(frames)


def animcli_animator(model: LiaxModel, source: np.ndarray, driving: np.ndarray, batch_size: int | None) -> np.ndarray:
    animator = Animator(model, TransferOptions(mode="relative"), batch_size=batch_size, precision="fp32")
    return np.concatenate([batch.prediction for batch in animator.animate(source, iter(driving))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=2, help="official animate's frames per chunk")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the Animator's (1 on CPU)")
    parser.add_argument("--config", default="liax-512")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    start = time.perf_counter()
    model = LiaxModel(resolve_config(args.config)).eval()
    parameters = sum(p.numel() for p in model.parameters())
    print(f"LIA-X {args.config} (random weights, {parameters / 1e6:.1f} M parameters, built in "
          f"{time.perf_counter() - start:.0f} s), {args.frames} frames at {model.size} px, CPU, {args.threads} threads")
    rng = np.random.default_rng(0)
    source, *driving = rng.integers(0, 256, size=(args.frames + 1, model.size, model.size, 3), dtype=np.uint8)
    driving = np.stack(driving)
    warmup = driving[: args.warmup]

    official, official_fps, official_peak = measure(
        f"official animate (chunk {args.chunk})", lambda d: official_animate(model, source, d, args.chunk),
        warmup, driving)
    ours, our_fps, our_peak = measure(
        f"animcli Animator (batch {args.batch_size or 'auto'})",
        lambda d: animcli_animator(model, source, d, args.batch_size), warmup, driving)
    report(official, official_fps, official_peak, ours, our_fps, our_peak)


if __name__ == "__main__":
    main()
