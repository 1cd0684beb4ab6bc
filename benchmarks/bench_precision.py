"""fp32 against bf16 on every available backend, end to end through ``animcli animate`` to an mp4, and live, against
the official per-frame loop, side by side in paired rounds (issue 26).

    python benchmarks/bench_precision.py [--rounds 5] [--threads 2] [--configs fomm-vox-256 lia-vox monkeynet-vox]
        [--variants onnxruntime:fp32 torch:fp32 openvino:fp32 torch:bf16 openvino:bf16] [--live-frames 60]

For each full-size config (seeded random weights, written as an official-layout checkpoint), every round runs, in
an order that rotates from round to round: the official loop in a fresh process (batch 1, the source encoded again
every frame, eager NCHW torch, float32) and, per variant, ``animcli animate … --backend B --precision P`` twice
(``--max-frames`` short and long; the difference of the wall times over the difference of frame counts is the
per-frame cost with start-up, loading and export excluded, decoding and encoding included). A round's ratio is
the official loop's time per frame over the variant's, measured minutes apart at most; the table shows the median
ratio over rounds and the smallest and largest. Then live: ``benchmarks/bench_live.py`` on FOMM vox-256 per
variant, paired the same way, median capture-to-output latency.

Run it on a quiet machine (``uptime`` before and after is printed); the processes use ``--threads`` cores. Variants
a machine cannot run (no OpenVINO; bf16 on a CPU without bf16 units) are left out with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_end_to_end import animate_seconds, official_seconds_per_frame, prepare_inputs  # noqa: E402

from animcli.common.cpu import cpu_features  # noqa: E402
from animcli.workflows.bench import available_backends  # noqa: E402

CONFIGS = ("fomm-vox-256", "lia-vox", "monkeynet-vox")
VARIANTS = ("onnxruntime:fp32", "openvino:fp32", "torch:fp32", "torch:bf16", "openvino:bf16")


def usable(variants: list[str]) -> list[tuple[str, str]]:
    chosen = []
    for variant in variants:
        backend, precision = variant.split(":")
        if backend not in available_backends():
            print(f"  (left out {variant}: {backend} is not installed)")
        elif precision == "bf16" and not cpu_features().has_bf16:
            print(f"  (left out {variant}: this CPU has no bf16 units)")
        else:
            chosen.append((backend, precision))
    return chosen


def end_to_end(config: str, variants: list[tuple[str, str]], rounds: int, threads: int, short: int, long: int,
               workdir: Path) -> dict[tuple[str, str], list[float]]:
    checkpoint = prepare_inputs(config, long, workdir)
    flags = {variant: ("--backend", variant[0], "--precision", variant[1]) for variant in variants}
    for extra in flags.values():
        animate_seconds(workdir, checkpoint, config, threads, 1, extra)  # fills the export cache
    ratios: dict[tuple[str, str], list[float]] = {variant: [] for variant in variants}
    paths = ["official", *variants]
    for index in range(rounds):
        shift = index % len(paths)
        seconds = {}
        for path in paths[shift:] + paths[:shift]:
            if path == "official":
                seconds[path] = official_seconds_per_frame(checkpoint, config, threads, long - short)
            else:
                seconds[path] = (animate_seconds(workdir, checkpoint, config, threads, long, flags[path])
                                 - animate_seconds(workdir, checkpoint, config, threads, short, flags[path])
                                 ) / (long - short)
        for variant in variants:
            ratios[variant].append(seconds["official"] / seconds[variant])
        print(f"    round {index + 1}: official {seconds['official']:.3f} s/frame; " + ", ".join(
            f"{b} {p} {seconds[(b, p)]:.3f}" for b, p in variants), flush=True)
    return ratios


def live(variants: list[tuple[str, str]], rounds: int, frames: int) -> dict[tuple[str, str], list[float]]:
    script = Path(__file__).resolve().parent / "bench_live.py"
    latencies: dict[tuple[str, str], list[float]] = {variant: [] for variant in variants}
    for index in range(rounds):
        shift = index % len(variants)
        for backend, precision in variants[shift:] + variants[:shift]:
            result = subprocess.run([sys.executable, str(script), "--config", "fomm-vox-256", "--size", "256",
                                     "--fps", "30", "--frames", str(frames), "--backend", backend, "--precision",
                                     precision], capture_output=True, text=True, check=True)
            latencies[backend, precision].append(json.loads(result.stdout.splitlines()[0])["latency_ms_p50"])
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--short", type=int, default=4, help="frames of the short animate run")
    parser.add_argument("--long", type=int, default=20, help="frames of the long animate run")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), help="BACKEND:PRECISION")
    parser.add_argument("--live-frames", type=int, default=60, help="0: skip the live comparison")
    args = parser.parse_args()
    cpu = cpu_features()
    print(f"{cpu.describe()}, {args.threads} threads, {args.rounds} paired rounds, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}")
    variants = usable(args.variants)
    print("| model | " + " | ".join(f"{b} {p} vs official (median, min-max)" for b, p in variants) + " |")
    print("|---|" + "---|" * len(variants))
    with tempfile.TemporaryDirectory() as workdir:
        for config in args.configs:
            ratios = end_to_end(config, variants, args.rounds, args.threads, args.short, args.long, Path(workdir))
            print(f"| {config} | " + " | ".join(
                f"{statistics.median(r):.2f}× ({min(r):.2f}-{max(r):.2f})" for r in ratios.values()) + " |",
                flush=True)
    if args.live_frames:
        latencies = live(variants, args.rounds, args.live_frames)
        print("live FOMM vox-256, median capture-to-output latency over rounds (ms): " + ", ".join(
            f"{b} {p} {statistics.median(values):.0f}" for (b, p), values in latencies.items()))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
