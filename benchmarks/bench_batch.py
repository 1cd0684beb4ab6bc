"""Throughput of ``animcli batch`` on this machine: one worker vs several, and what splitting the cores buys.

A batch of generated jobs (the bundled demo model, mp4 outputs) runs on local pools side by side in one
script, the configurations interleaved round by round so a loaded machine slows them alike:

    .venv/bin/python benchmarks/bench_batch.py [--jobs 20] [--frames 16] [--workers 2] [--rounds 1]

* ``1 worker``: one process with every core;
* ``N workers``: what ``animcli batch --workers N`` does, ``cores / N`` intra-op threads each;
* ``N workers, all cores each``: the same pool without the split (every worker using every core).

Wall time includes starting the workers and loading the model, as a user's batch does.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from animcli.data.synth import synth_source_and_driving
from animcli.jobs.batch import read_manifest
from animcli.jobs.local import LocalPool
from animcli.jobs.pools import available_cores, run_tasks
from animcli.media import write_image, write_video


def make_manifest(root: Path, jobs: int, frames: int) -> Path:
    lines = []
    for index in range(jobs):
        source, driving = synth_source_and_driving(index, size=64, num_frames=frames)
        write_image(root / f"source{index}.png", source)
        write_video(root / f"driving{index}.mp4", driving, fps=12)
        lines.append(json.dumps({"source": f"source{index}.png", "driving": f"driving{index}.mp4",
                                 "output": f"out/{index}.mp4", "model": "demo", "device": "cpu"}))
    manifest = root / "jobs.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def run_once(manifest: Path, workers: int, threads: int) -> tuple[float, int]:
    """Seconds for the whole batch (outputs overwritten) and frames written."""
    jobs = read_manifest(manifest)
    started = time.perf_counter()
    with LocalPool(workers, threads) as pool:
        outcomes = list(run_tasks(pool, jobs))
    failed = [outcome.error for outcome in outcomes if not outcome.ok]
    if failed:
        raise SystemExit(f"a job failed: {failed[0]}")
    return time.perf_counter() - started, sum(outcome.value for outcome in outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--frames", type=int, default=16, help="driving frames per job")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    cores = available_cores()
    configurations = {
        "1 worker": (1, cores),
        f"{args.workers} workers": (args.workers, max(1, cores // args.workers)),
        f"{args.workers} workers, all cores each": (args.workers, cores),
    }
    seconds = {name: 0.0 for name in configurations}
    with tempfile.TemporaryDirectory() as folder:
        manifest = make_manifest(Path(folder), args.jobs, args.frames)
        for _ in range(args.rounds):
            for name, (workers, threads) in configurations.items():
                elapsed, frames = run_once(manifest, workers, threads)
                seconds[name] += elapsed
                print(f"  {name}: {elapsed:.1f} s ({frames} frames)", flush=True)
    base = seconds["1 worker"]
    print(f"{args.jobs} jobs × {args.frames} frames, {cores} cores, {args.rounds} round(s):")
    for name, total in seconds.items():
        per_round = total / args.rounds
        print(f"  {name:<28} {per_round:7.1f} s   {args.jobs / per_round:5.2f} jobs/s   "
              f"{args.jobs * args.frames / per_round:6.1f} frames/s   {base / total:.2f}× the 1-worker rate")


if __name__ == "__main__":
    main()
