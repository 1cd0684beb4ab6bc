"""``animcli animate`` end to end against the official per-frame loop, per frame, in paired rounds.

    python benchmarks/bench_end_to_end.py [--rounds 3] [--threads 2] [--configs fomm-vox-256 lia-vox ...]

For each full-size config (seeded random weights, written as an official-layout checkpoint):

* official: a fresh process runs the official demos' loop (batch 1, the source encoded again every frame,
  eager NCHW torch) over frames already in memory — what the official demo scripts time per frame;
* animcli: ``animcli animate SOURCE DRIVING.mp4 --checkpoint … --config …`` as a user runs it, twice, with
  ``--max-frames`` short and long; the difference of the two wall times over the difference of frame counts is
  the per-frame cost with start-up, loading and export excluded, and decoding and encoding included.

Each round runs the three processes back to back, so a slower patch of the machine hits both sides alike;
the table shows the median of the rounds. Run it on a quiet machine: the processes use ``--threads`` cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from animcli.media import open_writer, write_image
from animcli.models.base import AnimationModel
from animcli.weights.loading import random_model
from animcli.workflows.bench import synthetic_frames

CONFIGS = ("fomm-vox-256", "lia-vox", "monkeynet-vox", "tpsmm-vox-256")
OFFICIAL_LOOP = """
import sys, time, torch, numpy as np
from animcli.workflows.bench import OfficialLoop, synthetic_frames
from animcli.weights.loading import load_model
from animcli.models.base import TransferOptions
torch.set_num_threads(int(sys.argv[3]))
model = load_model(sys.argv[1], sys.argv[2], device="cpu")
frames = int(sys.argv[4])
video = synthetic_frames(frames + 1, model.size)
loop = OfficialLoop(model, video[0], TransferOptions(mode=model.default_mode))
loop.frame(video[1])
start = time.perf_counter()
for frame in video[2:]:
    loop.frame(frame)
print((time.perf_counter() - start) / (len(video) - 2))
"""


def official_checkpoint(model: AnimationModel) -> dict[str, dict[str, torch.Tensor]]:
    """The model's weights in the official layout of its family: each family's model holds the official
    networks under their checkpoint names (FOMM's 'generator', LIA's 'gen', TPSMM's 'inpainting_network', …)."""
    return {name: network.state_dict() for name, network in model.named_children()}


def official_seconds_per_frame(checkpoint: Path, config: str, threads: int, frames: int) -> float:
    result = subprocess.run([sys.executable, "-c", OFFICIAL_LOOP, str(checkpoint), config, str(threads),
                             str(frames)], capture_output=True, text=True, check=True)
    return float(result.stdout.split()[-1])


def animate_seconds(workdir: Path, checkpoint: Path, config: str, threads: int, frames: int,
                    extra: tuple[str, ...] = ()) -> float:
    command = [sys.executable, "-m", "animcli", "animate", str(workdir / "source.png"), str(workdir / "driving.mp4"),
               "--checkpoint", str(checkpoint), "--config", config, "-o", str(workdir / f"out-{frames}.mp4"),
               "--max-frames", str(frames), "--threads", str(threads), "--overwrite", "--quiet", *extra]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def prepare_inputs(config: str, frames: int, workdir: Path) -> Path:
    """An official-layout checkpoint of ``config`` with seeded random weights, WORKDIR/source.png and
    WORKDIR/driving.mp4 (``frames`` frames); returns the checkpoint's path."""
    model = random_model(config, device="cpu")
    checkpoint = workdir / f"{config}.pth.tar"
    torch.save(official_checkpoint(model), checkpoint)
    video = synthetic_frames(frames + 1, model.size)
    write_image(workdir / "source.png", video[0])
    with open_writer(workdir / "driving.mp4", fps=25) as writer:
        writer.write_many(video[1:])
    return checkpoint


def measure(config: str, rounds: int, threads: int, short: int, long: int, workdir: Path) -> tuple[float, float]:
    checkpoint = prepare_inputs(config, long, workdir)
    animate_seconds(workdir, checkpoint, config, threads, 1)  # fills the export cache
    official, ours = [], []
    for _ in range(rounds):
        official.append(official_seconds_per_frame(checkpoint, config, threads, long - short))
        difference = (animate_seconds(workdir, checkpoint, config, threads, long)
                      - animate_seconds(workdir, checkpoint, config, threads, short))
        ours.append(difference / (long - short))
    return statistics.median(official), statistics.median(ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--short", type=int, default=4, help="frames of the short animate run")
    parser.add_argument("--long", type=int, default=20, help="frames of the long animate run")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    args = parser.parse_args()
    print(f"{args.threads} threads, {args.rounds} paired rounds, load average {os.getloadavg()[0]:.1f}")
    print("| model | official loop s/frame | animcli animate s/frame | speed-up |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as workdir:
        for config in args.configs:
            official, ours = measure(config, args.rounds, args.threads, args.short, args.long, Path(workdir))
            print(f"| {config} | {official:.3f} | {ours:.3f} | {official / ours:.2f}× |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
