"""animate end to end: the CLI on the FOMM fixture checkpoint, streaming, errors, stdin/stdout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from animcli.cli import app
from animcli.inference.animator import PREFETCH_BATCHES, Animator
from animcli.media import open_video, read_image
from animcli.models.base import TransferOptions
from animcli.weights.loading import load_model

runner = CliRunner()
MODE_FLAGS = {
    "relative_adapt": ["--mode", "relative", "--adapt-scale"],
    "relative_noadapt": ["--mode", "relative", "--no-adapt-scale"],
    "absolute": ["--mode", "absolute"],
}


def _to_uint8(chw: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(chw.transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)


def _write_png(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def fomm_fixtures(reference_dir: Path) -> Path:
    return reference_dir / "fomm" / "fixtures"


@pytest.fixture(scope="module")
def model_args(fomm_fixtures: Path) -> list[str]:
    return ["--checkpoint", str(fomm_fixtures / "checkpoint.pth.tar"), "--config", str(fomm_fixtures / "config.yaml")]


@pytest.fixture(scope="module")
def pngs(fomm_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The fixture inputs written as PNGs: source.png and a driving/ folder of frames."""
    root = tmp_path_factory.mktemp("fomm-pngs")
    inputs = np.load(fomm_fixtures / "inputs.npz")
    _write_png(root / "source.png", _to_uint8(inputs["source"][0]))
    (root / "driving").mkdir()
    for i, frame in enumerate(inputs["driving"]):
        _write_png(root / "driving" / f"{i:04d}.png", _to_uint8(frame))
    return root / "source.png", root / "driving"


@pytest.fixture(scope="module")
def driving_mp4(pngs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from animcli.media import open_writer

    path = tmp_path_factory.mktemp("mp4") / "driving.mp4"
    with open_video(pngs[1]) as frames, open_writer(path, fps=10) as writer:
        writer.write_many(frames)
    return path


@pytest.mark.parametrize("mode", list(MODE_FLAGS))
def test_cli_png_frames_match_official_predictions(pngs, model_args, fomm_fixtures: Path, tmp_path: Path,
                                                   mode: str) -> None:
    source, driving = pngs
    out = tmp_path / "frames"
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{out}/", "--quiet",
                                 "--batch-size", "3", *model_args, *MODE_FLAGS[mode]])
    assert result.exit_code == 0, result.output
    expected = np.load(fomm_fixtures / "animate.npz")[f"{mode}_prediction"]
    written = sorted(out.glob("*.png"))
    assert len(written) == len(expected)
    for path, frame in zip(written, expected, strict=True):
        diff = np.abs(read_image(path).astype(np.int16) - _to_uint8(frame).astype(np.int16)).max()
        assert diff <= 1, f"{path.name}: off by {diff}/255"


@pytest.mark.slow
def test_real_subprocess_writes_playable_mp4_with_side_by_side(pngs, model_args, tmp_path: Path) -> None:
    source, driving = pngs
    out = tmp_path / "result.mp4"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "animcli", "animate", str(source), str(driving), "-o", str(out),
                           "--side-by-side", "--show-keypoints", *model_args],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # stdout carries only data
    with open_video(out) as video:
        frames = list(video)
    assert len(frames) == 4 and frames[0].shape == (128, 3 * 128, 3)


@pytest.mark.slow
def test_stdin_to_stdout_stream(pngs, driving_mp4: Path, model_args, tmp_path: Path) -> None:
    source, _ = pngs
    proc = subprocess.run([sys.executable, "-m", "animcli", "animate", str(source), "-", "-o", "-", "--quiet",
                           *model_args], input=driving_mp4.read_bytes(), capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    streamed = tmp_path / "streamed.mp4"
    streamed.write_bytes(proc.stdout)
    with open_video(streamed) as video:
        assert len(list(video)) == 4


@pytest.mark.slow
def test_help_does_not_import_torch() -> None:
    code = ("import sys; from animcli.cli import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['animate', '--help']); assert r.exit_code == 0; "
            "print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


@pytest.mark.parametrize("case", ["missing-source", "corrupt-checkpoint", "wrong-config", "bad-device",
                                  "bad-output-suffix"])
def test_errors_are_one_line_and_leave_output_untouched(pngs, model_args, fomm_fixtures: Path, tmp_path: Path,
                                                        case: str) -> None:
    source, driving = pngs
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"precious")
    args = ["animate", str(source), str(driving), "-o", str(out), *model_args]
    if case == "missing-source":
        args[1] = str(tmp_path / "nope.png")
    elif case == "corrupt-checkpoint":
        bad = tmp_path / "bad.pth.tar"
        bad.write_bytes(b"not a checkpoint")
        args[args.index("--checkpoint") + 1] = str(bad)
    elif case == "wrong-config":
        args[args.index("--config") + 1] = "fomm-vox-256"
    elif case == "bad-device":
        args += ["--device", "tpu"]
    else:
        args[4] = str(tmp_path / "out.xyz")
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and result.output.startswith("animcli: error:")
    assert "Traceback" not in result.output
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "bad.pth.tar") == ["keep.mp4"]


def test_default_output_is_never_overwritten(pngs, model_args, tmp_path: Path, monkeypatch) -> None:
    source, driving = pngs
    monkeypatch.chdir(tmp_path)
    (tmp_path / "source-animated.mp4").write_bytes(b"x")
    result = runner.invoke(app, ["animate", str(source), str(driving), *model_args])
    assert result.exit_code == 2 and "already exists" in result.output


@pytest.fixture(scope="module")
def fixture_model(fomm_fixtures: Path):
    return load_model(fomm_fixtures / "checkpoint.pth.tar", fomm_fixtures / "config.yaml", device="cpu")


def _frames(pngs) -> list[np.ndarray]:
    with open_video(pngs[1]) as video:
        return list(video)


def test_animation_streams_and_batch_size_does_not_change_results(fixture_model, pngs) -> None:
    frames = _frames(pngs) * 3
    pulled = []

    def driving():
        for frame in frames:
            pulled.append(1)
            yield frame

    animator = Animator(fixture_model, TransferOptions("relative", True), batch_size=2)
    stream = animator.animate(read_image(pngs[0]), driving())
    first = next(stream)
    # Decoding runs ahead of the model by at most PREFETCH_BATCHES batches (plus the one being filled and the
    # one being animated): the first results come out long before the 12 frames are all read.
    assert len(pulled) <= (PREFETCH_BATCHES + 2) * 2 < len(frames)
    batched = np.concatenate([first.prediction] + [b.prediction for b in stream])
    single = np.concatenate([b.prediction for b in Animator(fixture_model, TransferOptions("relative", True),
                                                              batch_size=1).animate(read_image(pngs[0]), frames)])
    assert batched.shape[0] == len(frames)
    assert np.abs(batched - single).max() < 1e-5


def test_find_best_frame_picks_the_source_pose(fixture_model, pngs) -> None:
    frames = _frames(pngs)
    animator = Animator(fixture_model, batch_size=2)
    index, _ = animator.find_best_frame(frames[2], frames)
    assert index == 2


def test_find_best_frame_cli(pngs, model_args, tmp_path: Path) -> None:
    source, driving = pngs
    result = runner.invoke(app, ["animate", str(driving / "0002.png"), str(driving), "-o", str(tmp_path / "o.gif"),
                                 "--find-best-frame", *model_args])
    assert result.exit_code == 0, result.output
    assert "relative to driving frame 2" in result.output


def test_fp16_path_runs_and_stays_close(fixture_model, pngs) -> None:
    frames = _frames(pngs)
    source = read_image(pngs[0])
    reference, half = (np.concatenate([b.prediction for b in Animator(fixture_model, precision=precision)
                                       .animate(source, frames)]) for precision in ("fp32", "fp16"))
    assert 0 < np.abs(half - reference).max() < 1e-2  # really ran in half precision, and stayed accurate
    assert next(fixture_model.parameters()).dtype == torch.float32


def test_size_option(pngs, model_args, tmp_path: Path) -> None:
    source, driving = pngs
    ok = runner.invoke(app, ["animate", str(source), str(driving), "-o", str(tmp_path / "big"), "--size", "256",
                             "--quiet", *model_args])
    assert ok.exit_code == 0, ok.output
    assert read_image(next((tmp_path / "big").glob("*.png"))).shape == (256, 256, 3)
    bad = runner.invoke(app, ["animate", str(source), str(driving), "-o", str(tmp_path / "bad"), "--size", "100",
                              *model_args])
    assert bad.exit_code == 2 and "multiple of 128" in bad.output
    assert not (tmp_path / "bad").exists()


@pytest.fixture(scope="module")
def face_clip(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 30 frames of a real talking-head video, with its audio."""
    from animcli.media import open_writer

    original = shared_dir / "samples" / "lia-demo" / "vox" / "driving2.mp4"
    path = tmp_path_factory.mktemp("face") / "clip.mp4"
    with open_video(original) as video, open_writer(path, fps=video.fps, audio_from=video.path) as writer:
        for index, frame in enumerate(video):
            if index == 30:
                break
            writer.write(frame)
    return path


def test_crop_and_paste_back_keep_source_resolution(shared_dir: Path, face_clip: Path, model_args,
                                                    tmp_path: Path) -> None:
    from animcli.crop import crop_source_image

    source_path = shared_dir / "samples" / "lia-demo" / "ted" / "subject1.png"  # 384×384, face in the upper half
    out = tmp_path / "pasted"
    result = runner.invoke(app, ["animate", str(source_path), str(face_clip), "-o", f"{out}/", "--crop",
                                 "--paste-back", "--quiet", *model_args])
    assert result.exit_code == 0, result.output
    source = read_image(source_path)
    _, box = crop_source_image(source, size=128)
    frames = sorted(out.glob("*.png"))
    assert len(frames) == 30
    for path in frames[::10]:
        frame = read_image(path)
        assert frame.shape == source.shape
        outside = np.ones(source.shape[:2], bool)
        outside[max(box.y, 0):box.y + box.side, max(box.x, 0):box.x + box.side] = False
        assert np.array_equal(frame[outside], source[outside])
        assert not np.array_equal(frame, source)  # the face region was animated


def test_crop_without_a_face_is_a_clear_error(pngs, face_clip: Path, model_args, tmp_path: Path) -> None:
    result = runner.invoke(app, ["animate", str(pngs[0]), str(face_clip), "-o", str(tmp_path / "o.mp4"), "--crop",
                                 *model_args])
    assert result.exit_code == 2 and "no face" in result.output
    assert not (tmp_path / "o.mp4").exists()


def test_demo_command_writes_playable_videos(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--frames", "6", "--quiet"])
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "demo" / "source.png").shape == (64, 64, 3)
    with open_video(tmp_path / "demo" / "result.mp4") as video:
        frames = list(video)
    assert len(frames) == 6 and frames[0].shape == (64, 3 * 64, 3)


def test_find_best_frame_uses_face_landmarks_when_installed(face_clip: Path, model_args, tmp_path: Path) -> None:
    from animcli.crop import faces

    if faces.missing_reason(faces.LANDMARKS_FILE) is not None:
        pytest.skip(f"face landmarker not installed: {faces.missing_reason(faces.LANDMARKS_FILE)}")
    with open_video(face_clip) as video:
        source = [frame for index, frame in enumerate(video) if index == 17][0]
    source_path = tmp_path / "source.png"
    _write_png(source_path, source)
    result = runner.invoke(app, ["animate", str(source_path), str(face_clip), "-o", str(tmp_path / "o.mp4"),
                                 "--find-best-frame", *model_args])
    assert result.exit_code == 0, result.output
    assert "relative to driving frame 17, chosen by face landmarks" in result.output


def test_keypoint_algebra_stays_float32_under_fp16_autocast(fixture_model, pngs) -> None:
    from animcli.models.base import motion_slice

    frames = torch.from_numpy(np.stack(_frames(pngs))).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.float16):
        state = fixture_model.encode_source(frames[:1])
        motion = fixture_model.encode_driving(frames)
        transferred = fixture_model.transfer(state, motion, motion_slice(motion, 0), TransferOptions("relative"))
        dense = fixture_model.generator.dense_motion_network
        sparse = dense.sparse_motions((32, 32), transferred, state.kp)
    assert transferred["jacobian"].dtype == torch.float32 and transferred["value"].dtype == torch.float32
    assert sparse.dtype == torch.float32
