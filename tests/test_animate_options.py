"""animate's options for choosing the driving frames and shaping the output, on the bundled 64 px demo model:
--start/--end/--max-frames, --best-frame, --output-size, keypoints on the source panel, what the run reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from animcli.cli import app
from animcli.data.synth import synth_source_and_driving
from animcli.media import DEFAULT_FRAME_DIR_FPS, FrameDirWriter, open_video, probe_video, read_image, write_image
from animcli.media.trim import Trim, parse_time

runner = CliRunner()
SIZE = 64  # the demo model's


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """source.png and a lossless 20-frame driving folder (read at 25 fps: frame i is shown at i/25 s)."""
    root = tmp_path_factory.mktemp("inputs")
    source, driving = synth_source_and_driving(3, size=SIZE, num_frames=20)
    write_image(root / "source.png", source)
    with FrameDirWriter(root / "driving", DEFAULT_FRAME_DIR_FPS) as writer:
        writer.write_many(driving)
    return root / "source.png", root / "driving", driving


def animate(*args: str) -> tuple[list[str], list[np.ndarray]]:
    """Run animate into a frame folder (the last argument); (stderr lines, written frames)."""
    result = runner.invoke(app, ["animate", *args, "--model", "demo", "--fps", "10"])
    assert result.exit_code == 0, result.output
    with open_video(args[-1]) as frames:
        return result.stderr.splitlines(), list(frames)


def columns(frame: np.ndarray, count: int = 3) -> list[np.ndarray]:
    return np.split(frame, count, axis=1)


def test_start_end_and_max_frames_pick_the_driving_frames(inputs, tmp_path: Path) -> None:
    source, driving, frames = inputs
    assert DEFAULT_FRAME_DIR_FPS == 25
    _, out = animate(str(source), str(driving), "--start", "0.2", "--end", "0:00.52", "--side-by-side",
                     "-o", f"{tmp_path / 'window'}/")
    np.testing.assert_array_equal([columns(frame)[1] for frame in out], frames[5:13])  # shown at 0.2 … 0.48 s
    _, capped = animate(str(source), str(driving), "--start", "0.4", "--max-frames", "3", "--side-by-side",
                        "-o", f"{tmp_path / 'capped'}/")
    np.testing.assert_array_equal([columns(frame)[1] for frame in capped], frames[10:13])


@pytest.mark.parametrize(("args", "message"), [
    (["--start", "1:xx"], "--start takes seconds (12.5) or a clock time ([H:]MM:SS[.ms]), got '1:xx'"),
    (["--start", "1", "--end", "0.5"], "--end (0.5 s) must come after --start (1 s)"),
    (["--start", "5"], "--start 5 s is past the end of the video (0.8 s, 20 frames)"),
    (["--best-frame", "20"], "--best-frame 20 is past the driving video's last frame (19)"),
    (["--best-frame", "1", "--find-best-frame"], "give either --find-best-frame or --best-frame N, not both"),
])
def test_bad_trims_and_reference_frames_are_one_line_errors(inputs, tmp_path: Path, args: list[str],
                                                            message: str) -> None:
    source, driving, _ = inputs
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", str(tmp_path / "out.mp4"),
                                 "--model", "demo", *args])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("animcli: error: ") and message in result.output
    assert not (tmp_path / "out.mp4").exists()


def test_best_frame_measures_relative_motion_from_that_frame(inputs, tmp_path: Path) -> None:
    source, driving, _ = inputs
    lines, from_five = animate(str(source), str(driving), "--best-frame", "5", "--mode", "relative",
                               "-o", f"{tmp_path / 'five'}/")
    _, from_first = animate(str(source), str(driving), "--mode", "relative", "-o", f"{tmp_path / 'first'}/")
    # Where the driving video is at its reference frame, the source is shown in its own pose (up to the float
    # rounding of jacobian × inverse jacobian).
    assert np.abs(from_five[5].astype(int) - from_first[0]).max() <= 2
    assert np.abs(from_five[0].astype(int) - from_first[0]).max() > 20
    assert "at 10 fps (relative to driving frame 5, chosen by --best-frame) to " in lines[-1]


def test_output_size_and_the_wrote_line(inputs, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ANIMCLI_CPU_FLAGS", "avx2 fma")  # a CPU without bf16 units: no bf16 hint on the line
    source, driving, _ = inputs
    lines, frames = animate(str(source), str(driving), "--max-frames", "2", "--output-size", "160",
                            "-o", f"{tmp_path / 'big'}/")
    assert [frame.shape for frame in frames] == [(160, 160, 3)] * 2
    assert lines[-1] == f"wrote 2 frames of 160x160 at 10 fps to {tmp_path / 'big'}/"  # --fps 10
    lines, frames = animate(str(source), str(driving), "--max-frames", "2", "--side-by-side",
                            "-o", f"{tmp_path / 'small'}/")
    assert frames[0].shape == (SIZE, 3 * SIZE, 3) and f"2 frames of {3 * SIZE}x{SIZE}" in lines[-1]


def test_show_keypoints_marks_the_source_panel_too(inputs, tmp_path: Path) -> None:
    source, driving, _ = inputs
    _, plain = animate(str(source), str(driving), "--max-frames", "1", "--side-by-side", "-o", f"{tmp_path / 'a'}/")
    _, marked = animate(str(source), str(driving), "--max-frames", "1", "--side-by-side", "--show-keypoints",
                        "-o", f"{tmp_path / 'b'}/")
    plain_source, marked_source = columns(plain[0])[0], columns(marked[0])[0]
    np.testing.assert_array_equal(plain_source, read_image(source))
    changed = np.abs(marked_source.astype(int) - plain_source).max(axis=2) > 40
    assert 8 <= changed.sum() < 0.2 * SIZE * SIZE  # a dot per keypoint, nothing else


def test_audio_is_kept_from_the_trim_start_or_its_loss_is_said(shared_dir: Path, inputs, tmp_path: Path) -> None:
    talk = shared_dir / "samples" / "lia-demo" / "vox" / "driving2.mp4"  # 25 fps with an audio track
    source = inputs[0]
    result = runner.invoke(app, ["animate", str(source), str(talk), "--model", "demo", "--start", "2",
                                 "--max-frames", "5", "-o", str(tmp_path / "out.mp4")])
    assert result.exit_code == 0, result.output
    info = probe_video(tmp_path / "out.mp4")
    assert info["frame_count"] == 5 and info["has_audio"] and "not kept" not in result.stderr
    gif = runner.invoke(app, ["animate", str(source), str(talk), "--model", "demo", "--max-frames", "3",
                              "-o", str(tmp_path / "out.gif")])
    assert gif.exit_code == 0, gif.output
    assert "animcli: note: the audio is not kept (the output type holds no audio)" in gif.stderr


def test_crop_progress_knows_its_total(shared_dir: Path, tmp_path: Path) -> None:
    from animcli.inference.animator import Animator
    from animcli.weights.loading import load_model
    from animcli.workflows.animate_files import animate_files

    samples = shared_dir / "samples" / "lia-demo" / "vox"
    reports: list[tuple[int, int | None]] = []
    result = animate_files(Animator(load_model(model="demo", device="cpu")), samples / "macron.png",
                           samples / "driving2.mp4", tmp_path / "out.mp4", crop=True, trim=Trim(max_frames=30),
                           on_progress=lambda done, total: reports.append((done, total)))
    assert result.frames == 30 and reports[-1] == (30, 30) and {total for _, total in reports} == {30}


def test_trim_frame_ranges() -> None:
    assert Trim(start=2.0, end=3.0).frame_range(30.0) == (60, 90)
    assert Trim(start=0.05, max_frames=4).frame_range(25.0) == (2, 6)
    assert Trim(end=1.0, max_frames=100).frame_range(10.0) == (0, 10)
    assert parse_time("1:02:03.5", "--end") == 3723.5 and parse_time("02:03", "--end") == 123.0
