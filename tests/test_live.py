"""`animcli live` with video files standing in for cameras (no webcam on these machines)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from test_crop import face_on_canvas
from typer.testing import CliRunner

from animcli.cli import app
from animcli.data.synth import synth_source_and_driving
from animcli.inference.animator import Animator
from animcli.media import open_video, probe_video, read_image, write_image, write_video
from animcli.weights.loading import load_model
from animcli.workflows.live import LiveOptions, LiveSession, open_camera, sinks
from animcli.workflows.live.sinks import RecordingSink
from animcli.workflows.live.sources import CapturedFrame, CaptureThread, FrameSource, LatestFrame

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("single_thread")
FPS = 20


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("live")
    source, driving = synth_source_and_driving(seed=4, size=64, num_frames=40)
    write_image(root / "source.png", source)
    write_video(root / "camera.mp4", driving, FPS)
    return {"source": root / "source.png", "camera": root / "camera.mp4", "root": root}


@pytest.fixture(scope="module")
def animator() -> Animator:
    return Animator(load_model(model="demo", device="cpu"), batch_size=1)


def _live(inputs: dict[str, Path], *args: str) -> tuple[dict, object]:
    result = runner.invoke(app, ["live", str(inputs["source"]), "--camera", str(inputs["camera"]), "--model", "demo",
                                 "--json", "--quiet", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result


def test_live_from_a_file_camera_into_a_file(inputs, tmp_path: Path) -> None:
    out = tmp_path / "live.mp4"
    summary, _ = _live(inputs, "-o", str(out), "--smooth", "--find-best-frame", "--side-by-side")
    assert {"frames", "dropped", "latency_ms_p50", "latency_ms_p95"} <= summary.keys()
    assert summary["received"] == 40 and summary["frames"] + summary["dropped"] == 40 and summary["frames"] > 0
    assert 0 < summary["latency_ms_p50"] <= summary["latency_ms_p95"]
    assert summary["stopped_by"] == "end of input"
    info = probe_video(out)
    # camera | result at the model size; dropped frames repeat the previous result, so the file keeps real time
    assert info["size"] == (128, 64) and info["fps"] == FPS
    assert summary["frames"] <= info["frame_count"] <= 40


def test_limits_stop_the_session(inputs, tmp_path: Path) -> None:
    summary, _ = _live(inputs, "-o", f"{tmp_path / 'frames'}/", "--max-frames", "5")
    assert summary["frames"] == 5 and summary["stopped_by"] == "max frames"
    summary, _ = _live(inputs, "-o", str(tmp_path / "short.mp4"), "--max-seconds", "0.5")
    assert summary["stopped_by"] == "max seconds" and summary["received"] < 40
    assert probe_video(tmp_path / "short.mp4")["frame_count"] >= 1


def test_newest_frame_is_taken_and_older_ones_dropped() -> None:
    mailbox = LatestFrame()
    for index in range(3):
        mailbox.put(CapturedFrame(np.zeros((2, 2, 3), np.uint8), index, time.monotonic()))
    assert mailbox.take(timeout=0).index == 2 and (mailbox.received, mailbox.dropped) == (3, 2)
    assert mailbox.take(timeout=0.01) is None
    mailbox.close()
    with pytest.raises(EOFError):
        mailbox.take(timeout=0)


class _InterruptedSource(FrameSource):
    """A source whose reader sees a pending Ctrl-C after one frame (as ``raise_if_stopped`` raises it)."""

    fps, name = FPS, "interrupted"

    def frames(self) -> Iterator[np.ndarray]:
        yield np.zeros((2, 2, 3), np.uint8)
        raise KeyboardInterrupt


def test_a_signal_seen_by_the_capture_thread_ends_it_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C ends a live session: the capture thread stops without a traceback (the main thread handles it)."""
    uncaught = []
    monkeypatch.setattr(threading, "excepthook", uncaught.append)
    mailbox = LatestFrame()
    capture = CaptureThread(_InterruptedSource(), mailbox)
    capture.start()
    capture.join(timeout=60)
    assert not capture.is_alive() and not uncaught and capture.error is None
    assert mailbox.take(timeout=0).index == 0
    with pytest.raises(EOFError):
        mailbox.take(timeout=0)


def test_a_slow_model_drops_frames_instead_of_queueing(inputs, animator: Animator, tmp_path: Path) -> None:
    """A model 4× slower than the camera: latency stays about one frame's processing, it does not grow."""
    session = LiveSession(animator, read_image(inputs["source"]), open_camera(str(inputs["camera"])))
    compute = session.animate

    def slow(captured: CapturedFrame) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(4 / FPS)
        return compute(captured)

    session.animate = slow
    stats = session.run(RecordingSink(str(tmp_path / "slow.mp4"), FPS))
    assert stats.dropped >= 20 and stats.frames + stats.dropped == 40
    latency = np.array(stats.latencies)
    assert latency[-3:].mean() < latency[:3].mean() + 0.5  # no queue building up
    assert probe_video(tmp_path / "slow.mp4")["frame_count"] >= 30  # dropped frames repeat: real time kept


def test_reference_pose(inputs, animator: Animator) -> None:
    """The first frame by default; with find_best_frame the closest frame to the source pose so far;
    re-capture (SIGUSR1) takes the current one."""
    with open_video(inputs["camera"]) as reader:
        frames = list(reader)
    source = frames[0]
    motions = [animator.driving_motion(frame) for frame in frames[:12]]
    plain = LiveSession(animator, source, open_camera(str(inputs["camera"])))
    assert all(plain.reference(motion) is motions[0] for motion in motions)

    best = LiveSession(animator, source, open_camera(str(inputs["camera"])), LiveOptions(find_best_frame=True))
    distances = [animator.pose_distance(best.source_motion, motion) for motion in motions]
    chosen = [best.reference(motion) for motion in motions]
    for index, reference in enumerate(chosen):
        assert reference is motions[int(np.argmin(distances[:index + 1]))]

    with plain._recapture_on_sigusr1():
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.05)
    assert plain.reference(motions[7]) is motions[7] and plain.reference(motions[8]) is motions[7]


def test_crop_and_paste_back_on_a_face(shared_dir: Path, inputs, animator: Animator, tmp_path: Path) -> None:
    face_path = shared_dir / "samples" / "lia-demo" / "vox" / "taylor.png"
    face = cv2.resize(read_image(face_path), (96, 96), interpolation=cv2.INTER_AREA)
    write_video(tmp_path / "face-camera", face_on_canvas(face, [(40 + 4 * i, 60) for i in range(12)]), FPS)
    session = LiveSession(animator, read_image(face_path), open_camera(str(tmp_path / "face-camera")),
                          LiveOptions(crop=True, paste_back=True))
    stats = session.run(RecordingSink(str(tmp_path / "pasted.mp4"), FPS))
    assert stats.frames > 0 and session.follower.square is not None  # the camera's face was found and followed
    x, _, side = session.follower.square
    assert 40 < x + side / 2 < 40 + 4 * 12 + 96 and 96 < side < 200
    height, width = probe_video(tmp_path / "pasted.mp4")["size"][::-1]
    assert read_image(face_path).shape[:2] == (height, width)  # pasted into the full-size source photo


@pytest.mark.parametrize(("output", "message"), [("virtual", "virtual camera"), ("window", "GUI")])
def test_unavailable_outputs_fail_in_one_line(inputs, output: str, message: str) -> None:
    if output == "virtual" and Path("/sys/devices/virtual/video4linux").exists():
        pytest.skip("this machine has a v4l2 loopback device")
    import cv2

    if output == "window" and "GTK" in cv2.getBuildInformation() and os.environ.get("DISPLAY"):
        pytest.skip("this machine can open windows")
    result = runner.invoke(app, ["live", str(inputs["source"]), "--camera", str(inputs["camera"]), "--model", "demo",
                                 "-o", output])
    assert result.exit_code == 2 and message in result.output
    assert result.output.startswith("animcli: error:") and result.output.count("\n") == 1


def test_the_default_output_records_a_new_file_where_no_window_can_open(inputs, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sinks, "window_possible", lambda: False)
    monkeypatch.chdir(tmp_path)
    for expected in ("live.mp4", "live-2.mp4"):  # never over an earlier recording
        result = runner.invoke(app, ["live", str(inputs["source"]), "--camera", str(inputs["camera"]), "--model",
                                     "demo", "--max-frames", "3"])
        assert result.exit_code == 0, result.output
        assert f"→ {expected} (Ctrl-C stops)" in result.stderr and (tmp_path / expected).is_file()


def test_opencv_log_lines_do_not_reach_the_user(inputs, tmp_path: Path) -> None:
    # Camera 0 makes OpenCV log "[ WARN:0@…] … can't open camera by index" where there is none (and works
    # where there is one): either way only animcli's own lines may appear.
    env = {key: value for key, value in os.environ.items() if key != "OPENCV_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "animcli", "live", str(inputs["source"]), "--camera", "0",
                           "--model", "demo", "-o", str(tmp_path / "out.mp4"), "--max-frames", "1", "-q"],
                          env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert "WARN" not in done.stderr and "[ERROR" not in done.stderr, done.stderr
    assert done.returncode == 0 or done.stderr.startswith("animcli: error: cannot open camera 0"), done.stderr


def test_bad_camera_and_conflicting_stdout(inputs, tmp_path: Path) -> None:
    result = runner.invoke(app, ["live", str(inputs["source"]), "--camera", str(tmp_path / "nope.mp4"),
                                 "-o", str(tmp_path / "x.mp4")])
    assert result.exit_code == 2 and "--camera" in result.output and not (tmp_path / "x.mp4").exists()
    result = runner.invoke(app, ["live", str(inputs["source"]), "-o", "-", "--json"])
    assert result.exit_code == 2 and result.output.startswith("animcli: error:")


def _spawn(inputs: dict[str, Path], camera: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "animcli", "live", str(inputs["source"]), "--camera", str(camera),
                             "--model", "demo", *args], env=env, **kwargs)


def test_ctrl_c_finalises_the_file(inputs, tmp_path: Path) -> None:
    long_camera = inputs["root"] / "long.mp4"
    if not long_camera.exists():
        _, driving = synth_source_and_driving(seed=6, size=64, num_frames=400)
        write_video(long_camera, driving, FPS)
    out = tmp_path / "interrupted.mp4"
    process = _spawn(inputs, long_camera, "-o", str(out), "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "latency" not in _peek(process):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["stopped_by"] == "interrupt" and summary["frames"] > 0 and summary["received"] < 400
    assert probe_video(out)["frame_count"] >= summary["frames"]  # a complete, playable file
    assert not list(tmp_path.glob(".*partial*"))


def _peek(process: subprocess.Popen) -> str:
    """One status line from stderr (blocks until there is one)."""
    return process.stderr.readline() if process.poll() is None else "latency"


def test_stream_on_stdout(inputs, tmp_path: Path) -> None:
    result = runner.invoke(app, ["live", str(inputs["source"]), "--camera", str(inputs["camera"]), "--model", "demo",
                                 "-o", "-", "--max-frames", "6", "-q"])
    assert result.exit_code == 0, result.stderr
    (tmp_path / "stream.mp4").write_bytes(result.stdout_bytes)
    assert probe_video(tmp_path / "stream.mp4")["frame_count"] >= 6


def test_torch_threads_restored(inputs, animator: Animator, tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    session = LiveSession(animator, np.zeros((64, 64, 3), np.uint8), open_camera(str(inputs["camera"])),
                          LiveOptions(max_frames=2))
    session.run(RecordingSink(str(tmp_path / "t.mp4"), FPS))
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_live_runs_on_either_backend(inputs, tmp_path: Path, backend: str) -> None:
    summary, _ = _live(inputs, "-o", f"{tmp_path / 'frames'}/", "--max-frames", "5", "--backend", backend,
                       "--threads", "1")
    assert summary["frames"] == 5 and len(list((tmp_path / "frames").glob("*.png"))) >= 5
    assert summary["backend"] == backend
