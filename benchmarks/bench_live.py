"""Can a model keep up live? `animcli live`'s session on a synthetic clip played as a camera at --fps.

Prints, measured in one run: frames animated and dropped, the output/input frame-rate ratio (1.00: live at the
camera's rate) and the capture-to-output latency (median, 95th percentile).

    PYTHONPATH=src python benchmarks/bench_live.py [--model demo | --config fomm-vox-256] [--fps 20] [--frames 100]
        [--size 64] [--precision auto|fp32|bf16] [--backend auto|torch|onnxruntime|openvino]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from animcli.data.synth import synth_source_and_driving
from animcli.inference.smoothing import Smoothing
from animcli.media import write_video
from animcli.weights.loading import load_model, random_model
from animcli.workflows.live import LiveOptions, LiveSession, live_animator, open_camera
from animcli.workflows.live.sinks import RecordingSink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--config", default=None, help="a config name: its full-size model with seeded random "
                                                       "weights instead of --model (e.g. fomm-vox-256)")
    parser.add_argument("--precision", default="auto", help="as `animcli live --precision`")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fps", type=float, default=20.0)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", type=int, default=64, help="camera frame size (the model resizes)")
    parser.add_argument("--smooth", action="store_true")
    parser.add_argument("--backend", default="auto", help="as `animcli live --backend`")
    parser.add_argument("--model-size", type=int, default=None, help="model input size (as `animcli live --size`)")
    args = parser.parse_args()
    model = (random_model(args.config, device=args.device) if args.config
             else load_model(model=args.model, device=args.device))
    animator = live_animator(model, size=args.model_size, backend=args.backend, precision=args.precision)
    source, driving = synth_source_and_driving(seed=0, size=args.size, num_frames=args.frames)
    with tempfile.TemporaryDirectory() as root:
        camera_path = Path(root) / "camera.mp4"
        write_video(camera_path, driving, args.fps)
        options = LiveOptions(smoothing=Smoothing(causal=True) if args.smooth else None)
        session = LiveSession(animator, source, open_camera(str(camera_path)), options)
        stats = session.run(RecordingSink(str(Path(root) / "out.mp4"), args.fps))
    summary = stats.as_dict()
    print(json.dumps(summary))
    print(f"{args.config or args.model} on {animator.device} ({animator.backend.name} {animator.precision}), "
          f"camera {args.fps:g} fps × {args.frames} "
          f"frames: {stats.frames} animated, {stats.dropped} dropped, output/input frame rate "
          f"{summary['output_fps'] / max(summary['input_fps'], 1e-9):.2f}, latency p50 {summary['latency_ms_p50']} ms, "
          f"p95 {summary['latency_ms_p95']} ms")


if __name__ == "__main__":
    main()
