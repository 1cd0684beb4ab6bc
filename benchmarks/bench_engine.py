"""The engine against the official per-frame loop, and memory against video length, measured in one run.

    python benchmarks/bench_engine.py [--frames 8] [--threads 2] [--configs ...] [--rss-model demo]

Part 1 runs ``animcli bench`` (``animcli.workflows.bench.run_bench``) for each full-size config with seeded
random weights: the official-style loop and the engine alternate in chunks of a few frames in one process, so
load from other processes hits both alike. Part 2 animates a 100-frame and a 1,000-frame video end to end
with ``animcli animate`` (each in a fresh process) and compares their peak RSS: streaming keeps it flat.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from animcli.media import open_writer, write_image
from animcli.weights.loading import random_model
from animcli.workflows.bench import run_bench, synthetic_frames

CONFIGS = ("fomm-vox-256", "lia-vox", "monkeynet-vox")
RSS_LENGTHS = (100, 1000)


def speed_table(configs: list[str], frames: int, threads: int, backend: str) -> None:
    print(f"| model | official loop | animcli ({backend}) | ratio | peak RSS official → animcli | max abs diff "
          "| engine work |")
    print("|---|---|---|---|---|---|---|")
    for config in configs:
        result = run_bench(random_model(config, device="cpu"), frames, backend=backend, threads=threads)
        print(f"| {config} ({result.size} px), {frames} frames | {result.official.fps:.3f} frames/s | "
              f"{result.engine.fps:.3f} frames/s | {result.ratio:.2f}× | {result.official.peak_rss_mib:.0f} → "
              f"{result.engine.peak_rss_mib:.0f} MiB | {result.max_abs_diff:.1e} | "
              f"{result.gflop_per_frame:.0f} GFLOP/frame, {result.engine_gflops:.0f} GFLOP/s", flush=True)


def peak_rss_of_animate(model: str, size: int, length: int, workdir: Path) -> float:
    """Peak RSS (MiB) of a fresh ``animcli animate`` process over a ``length``-frame video."""
    video = synthetic_frames(length, size)
    write_image(workdir / "source.png", video[0])
    driving = workdir / f"driving-{length}.mp4"
    with open_writer(driving, fps=25) as writer:
        writer.write_many(video[1:])
    process = subprocess.Popen([sys.executable, "-m", "animcli", "animate", str(workdir / "source.png"),
                                str(driving), "-o", str(workdir / f"out-{length}.mp4"), "--model", model,
                                "--quiet"])
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"animate failed on the {length}-frame video")
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--rss-model", default="demo")
    parser.add_argument("--rss-size", type=int, default=64, help="frame size of the RSS videos")
    args = parser.parse_args()
    print(f"{args.threads} threads, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    speed_table(args.configs, args.frames, args.threads, args.backend)
    with tempfile.TemporaryDirectory() as workdir:
        peaks = [peak_rss_of_animate(args.rss_model, args.rss_size, length, Path(workdir)) for length in RSS_LENGTHS]
    print(f"peak RSS of animate ({args.rss_model}): {RSS_LENGTHS[0]} frames {peaks[0]:.0f} MiB, "
          f"{RSS_LENGTHS[1]} frames {peaks[1]:.0f} MiB, ratio {peaks[1] / peaks[0]:.3f}")


if __name__ == "__main__":
    main()
