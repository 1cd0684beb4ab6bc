"""`eval --metrics jitter`: second temporal differences of the driving motion and of the output frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from shaking import shake
from typer.testing import CliRunner

from animcli.cli import app
from animcli.data.synth import synth_clip
from animcli.evaluation.metrics import FrameBatch, FrameJitter, MotionJitter, select_metrics
from animcli.media import write_video

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("single_thread")



def _stream(metric, frames: np.ndarray, pose: np.ndarray | None, batch: int) -> list[float | None]:
    metric.new_video()
    values: list[float | None] = []
    for start in range(0, len(frames), batch):
        chunk = slice(start, start + batch)
        values += metric.frame_values(FrameBatch(frames[chunk], None if pose is None else pose[chunk]), None)
    return values


def test_jitter_is_the_second_difference_across_batches() -> None:
    rng = np.random.default_rng(0)
    frames = rng.random((11, 4, 4, 3)).astype(np.float32)
    pose = rng.normal(size=(11, 5, 2))
    expected_frames = np.abs(np.diff(frames.astype(np.float64), 2, axis=0)).mean(axis=(1, 2, 3))
    expected_pose = np.linalg.norm(np.diff(pose, 2, axis=0), axis=-1).mean(axis=1)
    for batch in (1, 3, 11):
        frame_values = _stream(FrameJitter(), frames, pose, batch)
        pose_values = _stream(MotionJitter(), frames, pose, batch)
        assert frame_values[:2] == [None, None] and pose_values[:2] == [None, None]
        np.testing.assert_allclose(frame_values[2:], expected_frames, rtol=1e-5)
        np.testing.assert_allclose(pose_values[2:], expected_pose, rtol=1e-9)
    steady = np.linspace(0, 1, 8)[:, None, None] * np.ones((8, 3, 2))  # constant velocity: no jitter
    np.testing.assert_allclose(_stream(MotionJitter(), frames[:8], steady, 3)[2:], 0, atol=1e-12)
    assert _stream(MotionJitter(), frames, None, 4) == [None] * 11  # no model, no motion


def test_jitter_names_select_both_metrics() -> None:
    selected, _ = select_metrics(["l1", "jitter"])
    assert [metric.name for metric in selected] == ["l1", "jitter-motion", "jitter-frames"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("jitter-data")
    clip = synth_clip(seed=5, size=64, num_frames=24)
    write_video(root / "clean", clip, 25)
    write_video(root / "shaken", shake(clip, seed=5), 25)
    return root


def _overall(*args: str) -> dict:
    result = runner.invoke(app, ["eval", "--json", "--quiet", *args])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    return {record["video"]: record["scores"] for record in report["videos"]}


def test_eval_jitter_shows_the_shake_and_what_smooth_does(clips: Path) -> None:
    raw = _overall("--model", "demo", "--data", str(clips), "--metrics", "jitter")
    smoothed = _overall("--model", "demo", "--data", str(clips), "--metrics", "jitter", "--smooth")
    assert raw["shaken"]["jitter-motion"] > 2 * raw["clean"]["jitter-motion"]
    assert raw["shaken"]["jitter-frames"] > raw["clean"]["jitter-frames"]
    assert smoothed["shaken"]["jitter-motion"] < 0.5 * raw["shaken"]["jitter-motion"]
    assert smoothed["shaken"]["jitter-frames"] < raw["shaken"]["jitter-frames"]


def test_eval_jitter_of_other_tools_videos(clips: Path) -> None:
    scores = _overall("--pred", str(clips), "--gt", str(clips), "--metrics", "jitter")
    assert scores["clean"]["jitter-motion"] is None  # no model: its motion is unknown
    assert scores["shaken"]["jitter-frames"] > scores["clean"]["jitter-frames"] > 0
    result = runner.invoke(app, ["eval", "--pred", str(clips), "--gt", str(clips), "--smooth"])
    assert result.exit_code == 2 and result.output.startswith("animcli: error:")
