"""What a video source costs per frame against a still source, per family (issue 27).

A still source is encoded once per run; a source video's every frame is encoded once (``Animator.animate_video``),
so a frame costs one source encoding more. Each family's full-size network from its shipped config, with random
weights (timing does not depend on them), the torch backend, batches of one frame, the same random frames for
both paths; paired rounds (still, video, still, video, …), the median per frame reported:

    PYTHONPATH=src .venv/bin/python benchmarks/bench_video_source.py [--frames 6] [--rounds 3] [--threads 2]
        [--families fomm,lia,liax,monkeynet,tpsmm]

Also printed: the source encoding alone (``encode_source``), per frame.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from animcli.inference.animator import Animator
from animcli.models.base import TransferOptions
from animcli.models.configs import resolve_config
from animcli.models.families import family_class

CONFIGS = {"fomm": "fomm-vox-256", "lia": "lia-vox", "liax": "liax-512", "monkeynet": "monkeynet-vox",
           "tpsmm": "tpsmm-vox-256"}


def per_frame(run, frames: int) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--families", default=",".join(CONFIGS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, {args.frames} frames per run, {args.rounds} paired rounds, torch backend, fp32")
    print("| family (config) | size | still source, ms/frame | video source, ms/frame | × | source encoding, ms |")
    print("|---|---|---|---|---|---|")
    for family in args.families.split(","):
        print(measure(family, args.frames, args.rounds), flush=True)


def measure(family: str, count: int, rounds: int) -> str:
    """One table row: the median per-frame times of one family."""
    torch.manual_seed(0)
    model = family_class(family)(resolve_config(CONFIGS[family])).eval()
    animator = Animator(model, TransferOptions(mode="relative"), batch_size=1, backend="torch")
    size = animator.size
    rng = np.random.default_rng(0)
    sources = list((rng.random((count, size, size, 3)) * 255).astype(np.uint8))
    driving = list((rng.random((count, size, size, 3)) * 255).astype(np.uint8))

    def still() -> None:
        for _ in animator.animate(sources[0], driving):
            pass

    def video() -> None:
        for _ in animator.animate_video(((frame, None) for frame in sources), driving):
            pass

    def encode() -> None:
        for frame in sources:
            animator.encode_source(frame)

    with torch.inference_mode():
        still(), video()  # warm-up
        timings: dict[str, list[float]] = {"still": [], "video": [], "encode": []}
        for _ in range(rounds):
            timings["still"].append(per_frame(still, count))
            timings["video"].append(per_frame(video, count))
            timings["encode"].append(per_frame(encode, count))
    medians = {name: statistics.median(values) * 1000 for name, values in timings.items()}
    return (f"| {family} ({CONFIGS[family]}) | {size} | {medians['still']:.0f} | {medians['video']:.0f} | "
            f"{medians['video'] / medians['still']:.2f} | {medians['encode']:.0f} |")

if __name__ == "__main__":
    main()
