"""The procedural dataset generator: deterministic, moving, in the official strip layout."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from animcli.cli import app
from animcli.data import read_video, split_videos
from animcli.data.synth import synth_clip, synth_source_and_driving, write_synth_dataset


def test_clip_is_a_deterministic_function_of_its_seed() -> None:
    clip = synth_clip(7, size=48, num_frames=5)
    assert clip.shape == (5, 48, 48, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip, synth_clip(7, size=48, num_frames=5))
    assert np.abs(clip.astype(int) - synth_clip(8, size=48, num_frames=5)).mean() > 10


def test_shapes_move_between_frames_but_not_everything_changes() -> None:
    clip = synth_clip(3, size=64, num_frames=8).astype(np.float32) / 255
    changed = np.abs(clip[-1] - clip[0]).max(axis=2) > 0.1
    assert 0.01 < changed.mean() < 0.6  # shapes moved; the background stayed


def test_source_and_driving_come_from_different_clips() -> None:
    source, driving = synth_source_and_driving(2, size=32, num_frames=6)
    assert source.shape == (32, 32, 3) and driving.shape == (6, 32, 32, 3)
    assert np.abs(source.astype(int) - driving[0]).mean() > 5


def test_dataset_round_trips_through_the_training_reader(tmp_path) -> None:
    assert write_synth_dataset(tmp_path, 5, size=16, num_frames=3, seed=4, test_fraction=0.2) == (4, 1)
    train = split_videos(tmp_path, "train")
    assert [p.name for p in train] == [f"{i:06d}.png" for i in range(4)]
    np.testing.assert_array_equal(read_video(train[2]), synth_clip(4 * 1_000_003 + 2, 16, 3))


def test_cli_writes_a_dataset_and_refuses_to_clobber(tmp_path) -> None:
    out = tmp_path / "synth"
    runner = CliRunner()
    result = runner.invoke(app, ["data", "synth", str(out), "--videos", "3", "--size", "16", "--frames", "2"])
    assert result.exit_code == 0, result.output
    assert len(list((out / "train").iterdir())) == 2 and len(list((out / "test").iterdir())) == 1
    again = runner.invoke(app, ["data", "synth", str(out), "--videos", "3"])
    assert again.exit_code == 2 and "not empty" in again.output
