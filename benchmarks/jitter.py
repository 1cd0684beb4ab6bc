"""What `animate --smooth` does to a shaken driving video: numbers and the README's before/after figure.

Synthetic clips (``animcli.data.synth``) are animated with the bundled demo model three ways: the clean clip, the
clip with every frame shaken by a random 0–2 px, and the shaken clip with ``--smooth``. Printed per seed and
mode: the output's jitter (mean |2nd temporal difference| of the pixels, 0–255), its distance to the clean
clip's result (mean |Δ|) and how much it moves (mean |frame − first frame|). Writes docs/smoothing.png.

    PYTHONPATH=src python benchmarks/jitter.py [--seeds 0,1,2,3,4] [--strength 4] [--figure docs/smoothing.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from animcli.data.synth import synth_source_and_driving
from animcli.inference.animator import Animator
from animcli.inference.smoothing import Smoothing
from animcli.media import write_image
from animcli.models.base import AnimationModel, TransferOptions
from animcli.weights.loading import load_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from shaking import shake  # noqa: E402

FRAMES, SIZE = 48, 64


def animate(model: AnimationModel, source: np.ndarray, driving: np.ndarray, mode: str,
            smoothing: Smoothing | None) -> tuple[np.ndarray, np.ndarray]:
    """Result frames (uint8) and the driving keypoints the model rendered them from."""
    animator = Animator(model, TransferOptions(mode=mode), smoothing=smoothing)
    batches = list(animator.animate(source, list(driving)))
    return (np.concatenate([batch.prediction_uint8 for batch in batches]),
            np.concatenate([batch.pose_driving for batch in batches]))


def jitter_per_frame(frames: np.ndarray) -> np.ndarray:
    frames = frames.astype(np.float64)
    return np.abs(frames[2:] - 2 * frames[1:-1] + frames[:-2]).reshape(len(frames) - 2, -1).mean(axis=1)


def plot(panel_title: str, series: dict[str, np.ndarray], colours: dict[str, tuple[int, int, int]],
         width: int = 720, height: int = 220) -> np.ndarray:
    """A line plot drawn with OpenCV (RGB): one line per series, legend in the title row."""
    panel = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 50, width - 15, 40, height - 25
    values = np.concatenate(list(series.values()))
    low, high = float(values.min()), float(values.max())
    high = high if high > low else low + 1
    cv2.rectangle(panel, (left, top), (right, bottom), (180, 180, 180), 1)
    for name, line in series.items():
        xs = left + np.arange(len(line)) / max(len(line) - 1, 1) * (right - left)
        ys = bottom - (line - low) / (high - low) * (bottom - top)
        points = np.stack([xs, ys], axis=1).round().astype(np.int32)
        cv2.polylines(panel, [points], False, colours[name], 2, cv2.LINE_AA)
    cv2.putText(panel, panel_title, (left, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    x = left
    for name in series:
        cv2.putText(panel, name, (x, 33), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colours[name], 1, cv2.LINE_AA)
        x += 12 + cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0]
    cv2.putText(panel, "frame", (right - 45, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (90, 90, 90), 1)
    return panel


def figure(model: AnimationModel, seed: int, strength: float, path: Path) -> None:
    source, driving = synth_source_and_driving(seed, SIZE, FRAMES)
    shaken = shake(driving, seed)
    runs = {"clean": animate(model, source, driving, "relative", None),
            "shaken": animate(model, source, shaken, "relative", None),
            f"shaken --smooth (strength {strength:g})": animate(model, source, shaken, "relative",
                                                                 Smoothing(strength))}
    colours = dict(zip(runs, [(40, 150, 40), (210, 40, 40), (30, 80, 220)], strict=True))
    keypoint_x = {name: kp[:, 0, 0] * SIZE / 2 for name, (_, kp) in runs.items()}
    output_jitter = {name: jitter_per_frame(frames) for name, (frames, _) in runs.items()}
    strip = np.concatenate([np.concatenate(list(frames[::8]), axis=1) for frames, _ in runs.values()], axis=0)
    strip = cv2.resize(strip, (720, round(strip.shape[0] * 720 / strip.shape[1])), interpolation=cv2.INTER_NEAREST)
    write_image(path, np.concatenate([
        plot("driving keypoint 0, x (pixels at 64 px)", keypoint_x, colours),
        plot("output jitter per frame: mean |2nd temporal difference| (0-255)", output_jitter, colours),
        strip,  # every 8th result frame: clean, shaken, smoothed rows
    ], axis=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--strength", type=float, default=Smoothing().strength)
    parser.add_argument("--figure", type=Path, default=Path("docs/smoothing.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(model="demo", device="cpu")
    print(f"demo model, {FRAMES} frames of {SIZE} px, shake 0-2 px/frame, --smooth-strength {args.strength:g}")
    print("seed mode      jitter clean/shaken/smoothed   removed   dist shaken/smoothed   moves smoothed/clean")
    removed_all = []
    for seed in (int(s) for s in args.seeds.split(",")):
        source, driving = synth_source_and_driving(seed, SIZE, FRAMES)
        shaken = shake(driving, seed)
        for mode in ("relative", "absolute"):
            clean = animate(model, source, driving, mode, None)[0].astype(np.float64)
            noisy = animate(model, source, shaken, mode, None)[0].astype(np.float64)
            smooth = animate(model, source, shaken, mode, Smoothing(args.strength))[0].astype(np.float64)
            jitters = [jitter_per_frame(frames).mean() for frames in (clean, noisy, smooth)]
            removed = (jitters[1] - jitters[2]) / (jitters[1] - jitters[0])
            removed_all.append(removed)
            distances = [np.abs(frames - clean).mean() for frames in (noisy, smooth)]
            moves = np.abs(smooth - smooth[0]).mean() / np.abs(clean - clean[0]).mean()
            print(f"{seed:>4} {mode:<9} {jitters[0]:6.3f} / {jitters[1]:6.3f} / {jitters[2]:6.3f}"
                  f"       {removed:5.0%}     {distances[0]:6.3f} / {distances[1]:6.3f}          {moves:5.2f}")
    print(f"added jitter removed: median {np.median(removed_all):.0%}, min {min(removed_all):.0%}")
    figure(model, int(args.seeds.split(",")[0]), args.strength, args.figure)
    print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
