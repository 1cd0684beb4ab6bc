"""``animcli demo`` / ``make demo``: the whole animate path offline, on generated inputs.

Real checkpoints cannot ship with the package, so the demo generates a source image and a driving video of
moving textured shapes with the project's own generator and animates them with the small FOMM model in
``checkpoints/demo/`` (trained by ``animcli train`` on the same kind of synthetic data).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from animcli.data.synth import synth_source_and_driving
from animcli.inference.animator import Animator
from animcli.media import open_writer, write_image
from animcli.weights.loading import load_model
from animcli.workflows.animate_files import animate_files
from animcli.workflows.output import AnimationResult, OutputStyle

DEMO_MODEL = "demo"


def run_demo(out_dir: Path, *, seed: int = 0, num_frames: int = 48, device: str = "auto",
             on_progress: Callable[[int, int | None], None] | None = None) -> AnimationResult:
    """Write ``source.png``, ``driving.mp4`` and ``result.mp4`` (source | driving | result) into ``out_dir``."""
    model = load_model(model=DEMO_MODEL, device=device)
    source, driving_frames = synth_source_and_driving(seed, size=model.size, num_frames=num_frames)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_image(out_dir / "source.png", source)
    with open_writer(out_dir / "driving.mp4", fps=12) as writer:
        writer.write_many(driving_frames)
    return animate_files(Animator(model), out_dir / "source.png", out_dir / "driving.mp4", out_dir / "result.mp4",
                         style=OutputStyle(side_by_side=True, show_keypoints=True), on_progress=on_progress)
