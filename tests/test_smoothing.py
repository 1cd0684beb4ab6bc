"""Smoothing of the driving motion: the streaming smoothers, and `animate --smooth` on a shaken clip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from scipy.signal import savgol_filter
from shaking import shake
from typer.testing import CliRunner

from animcli.cli import app
from animcli.common.errors import AnimcliError
from animcli.data.synth import synth_source_and_driving
from animcli.inference.smoothing import CausalSmoother, LookaheadSmoother, Smoothing, smooth_batches
from animcli.media import open_video, write_image, write_video

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("single_thread")



def _series(smoother, values: np.ndarray) -> np.ndarray:
    """Push (T, K, 2) values one frame at a time, flush, and return the smoothed series."""
    out = []
    for value in values:
        out += smoother.push({"value": torch.from_numpy(value)[None]})
    out += smoother.flush()
    return np.concatenate([motion["value"].numpy() for motion in out])


@pytest.mark.parametrize("frames", [3, 5, 9, 40])
def test_lookahead_streams_the_savitzky_golay_filter(frames: int) -> None:
    values = np.random.default_rng(frames).normal(size=(frames, 4, 2)).astype(np.float32)
    smoothed = _series(LookaheadSmoother(None, radius=4), values)
    window = min(9, frames)
    expected = values if window <= 3 else savgol_filter(values, window, 2, axis=0, mode="interp")
    np.testing.assert_allclose(smoothed, expected, atol=1e-5)


def test_lookahead_holds_only_its_window() -> None:
    smoother = LookaheadSmoother(None, radius=3)
    ready = [len(smoother.push({"value": torch.zeros(1, 2)})) for _ in range(12)]
    assert ready == [0] * 6 + [4] + [1] * 5  # 3 frames of delay, then one out per frame in
    assert len(smoother.window) == 7 and len(smoother.flush()) == 3


def test_only_smoothable_entries_are_filtered_and_frames_keep_their_motion() -> None:
    rng = np.random.default_rng(0)
    frames = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    motion = {"value": torch.from_numpy(rng.normal(size=(10, 3, 2)).astype(np.float32)),
              "frame_id": torch.arange(10.0)[:, None]}
    batches = [(frames[i:i + 4], {k: v[i:i + 4] for k, v in motion.items()}) for i in range(0, 10, 4)]
    out = list(smooth_batches(batches, LookaheadSmoother({"value"}, radius=2)))
    assert [len(f) for f, _ in out] == [4, 4, 2]
    out_frames = np.concatenate([f for f, _ in out])
    out_ids = torch.cat([m["frame_id"] for _, m in out])
    np.testing.assert_array_equal(out_frames[:, 0, 0, 0], np.arange(10))
    torch.testing.assert_close(out_ids, motion["frame_id"])  # passed through, aligned with its frame
    assert not torch.allclose(torch.cat([m["value"] for _, m in out]), motion["value"])


def test_causal_smoother_removes_noise_without_looking_ahead() -> None:
    rng = np.random.default_rng(1)
    steps = np.where(np.arange(120) < 60, 0.0, 0.5)
    noisy = (steps + rng.normal(scale=0.05, size=120)).astype(np.float32)[:, None, None]
    smoother = CausalSmoother(None, fps=25.0, time_constant_frames=4)
    out = []
    for value in noisy:
        ready = smoother.push({"value": torch.from_numpy(value)[None]})
        assert len(ready) == 1  # answers every frame at once
        out.append(float(ready[0]["value"]))
    out = np.array(out)
    assert np.abs(np.diff(out[10:60], 2)).mean() < 0.3 * np.abs(np.diff(noisy[10:60, 0, 0], 2)).mean()
    assert out[59] < 0.1 and abs(out[75] - 0.5) < 0.05  # no anticipation, then follows the step


def test_strength_is_validated(shaken_clip, tmp_path: Path) -> None:
    with pytest.raises(AnimcliError, match="smooth-strength"):
        Smoothing(strength=0.5)
    result = runner.invoke(app, ["animate", str(shaken_clip["source"]), str(shaken_clip["clean"]),
                                 "-o", str(tmp_path / "out.mp4"), "--model", "demo", "--smooth-strength", "0"])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0
    assert result.output.startswith("animcli: error: --smooth-strength") and not (tmp_path / "out.mp4").exists()


# --------------------------------------------------------------------------- animate --smooth on a shaken clip


def jitter(frames: np.ndarray) -> float:
    """Mean |second temporal difference| of the frames (0–255 scale)."""
    frames = frames.astype(np.float64)
    return float(np.abs(frames[2:] - 2 * frames[1:-1] + frames[:-2]).mean())


@pytest.fixture(scope="module")
def shaken_clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shaken")
    source, driving = synth_source_and_driving(seed=3, size=64, num_frames=40)
    write_image(root / "source.png", source)
    write_video(root / "clean", driving, 25)
    write_video(root / "shaken", shake(driving, seed=3), 25)
    return {"source": root / "source.png", "clean": root / "clean", "shaken": root / "shaken"}


def _animate(clip: dict[str, Path], driving: str, out: Path, *extra: str) -> np.ndarray:
    result = runner.invoke(app, ["animate", str(clip["source"]), str(clip[driving]), "-o", f"{out}/", "--quiet",
                                 "--model", "demo", "--no-audio", *extra])
    assert result.exit_code == 0, result.output
    with open_video(out) as frames:
        return np.stack(list(frames))


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_smooth_removes_the_shake_but_not_the_motion(shaken_clip, tmp_path: Path, mode: str) -> None:
    clean = _animate(shaken_clip, "clean", tmp_path / "clean", "--mode", mode)
    shaken = _animate(shaken_clip, "shaken", tmp_path / "shaken", "--mode", mode)
    smoothed = _animate(shaken_clip, "shaken", tmp_path / "smoothed", "--mode", mode, "--smooth")
    added = jitter(shaken) - jitter(clean)
    assert added > 0.2 * jitter(clean)  # the shake is visible in the result
    assert jitter(smoothed) - jitter(clean) < 0.4 * added  # most of it is gone
    distance = lambda frames: np.abs(frames.astype(float) - clean).mean()  # noqa: E731
    assert distance(smoothed) <= distance(shaken)  # closer to the unshaken result, not bent away from it
    movement = lambda frames: np.abs(frames.astype(float) - frames[:1]).mean()  # noqa: E731
    assert movement(smoothed) > 0.9 * movement(clean)  # and it still moves as much


def test_smooth_with_best_frame_and_paste_back(shaken_clip, shared_dir: Path, tmp_path: Path) -> None:
    """Relative motion is measured from the chosen frame's *smoothed* motion: that frame renders the source's
    own pose exactly, as frame 0 does when no best frame is searched."""
    from animcli.inference.animator import Animator
    from animcli.weights.loading import load_model
    from animcli.workflows.animate_files import animate_files

    face = shared_dir / "samples" / "lia-demo" / "vox" / "taylor.png"
    animator = Animator(load_model(model="demo", device="cpu"), smoothing=Smoothing())
    best = animate_files(animator, face, shaken_clip["shaken"], tmp_path / "best", find_best_frame=True,
                         paste_back=True, audio=False)
    first = animate_files(animator, face, shaken_clip["shaken"], tmp_path / "first", paste_back=True, audio=False)
    assert best.frames == first.frames == 40 and best.best_frame not in (None, 0)
    with open_video(tmp_path / "best") as frames:
        best_frames = list(frames)
    with open_video(tmp_path / "first") as frames:
        first_frame = next(iter(frames))
    assert best_frames[0].shape == first_frame.shape == cv2.imread(str(face)).shape  # pasted into the photo
    np.testing.assert_allclose(best_frames[best.best_frame], first_frame, atol=1)


FAMILY_FIXTURES = {
    "fomm": ("checkpoint.pth.tar", "config.yaml"),
    "lia": ("checkpoint.pt", "config.json"),
    "monkeynet": ("checkpoint.pth.tar", "config.yaml"),
    "liax": ("checkpoint.pt", "config.json"),
    "tpsmm": ("checkpoint.pth.tar", "config.yaml"),
}


@pytest.mark.parametrize("family", list(FAMILY_FIXTURES))
def test_every_family_exposes_smoothable_motion(reference_dir: Path, family: str) -> None:
    """Each family's smoothable entries are real entries of its driving motion, and smoothing reaches the
    result through the interface alone."""
    from animcli.inference.animator import Animator
    from animcli.models.families import FAMILIES
    from animcli.weights.loading import load_model

    checkpoint, config = FAMILY_FIXTURES[family]
    fixtures = reference_dir / family / "fixtures"
    model = load_model(fixtures / checkpoint, str(fixtures / config), device="cpu")
    assert model.family == family and set(FAMILY_FIXTURES) >= set(FAMILIES)
    rng = np.random.default_rng(0)
    base = (rng.random((model.size, model.size, 3)) * 255).astype(np.uint8)
    frames = shake(np.repeat(base[None], 6, axis=0), seed=1, max_px=3)
    motion = model.encode_driving(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255)
    assert model.smoothable_motion and set(model.smoothable_motion) <= set(motion)
    assert model.pose_vectors(motion).shape[0] == 6
    raw, smoothed = (np.concatenate([batch.prediction for batch in animator.animate(base, list(frames))])
                     for animator in (Animator(model), Animator(model, smoothing=Smoothing(2))))
    assert raw.shape == smoothed.shape and np.abs(raw - smoothed).max() > 1e-4
