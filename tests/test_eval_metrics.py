"""Reconstruction metrics on hand-made cases with known answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from animcli.common.errors import AnimcliError
from animcli.crop import faces
from animcli.evaluation.metrics import (
    DEFAULT_METRICS,
    UNAVAILABLE_METRICS,
    FrameBatch,
    RunningMean,
    builtin_metrics,
    select_metrics,
)
from animcli.evaluation.report import Report, VideoRecord
from animcli.media import read_image

faces_available = builtin_metrics()["akd"].available()
needs_faces = pytest.mark.skipif(not faces_available, reason="dlib / face-recognition-models not installed")


def score(name: str, generated: np.ndarray, original: np.ndarray) -> list[float | None]:
    return builtin_metrics()[name].frame_values(FrameBatch(generated), FrameBatch(original))


def horizontal_ramp(frames: int = 2, size: int = 32) -> np.ndarray:
    ramp = np.broadcast_to((np.arange(size) / size)[None, None, :, None], (frames, size, size, 3))
    return np.ascontiguousarray(ramp, dtype=np.float32)


def shifted(image: np.ndarray, pixels: int) -> np.ndarray:
    """Content moved right by `pixels`, the uncovered edge replicated (no black border for the detector)."""
    return np.concatenate([np.repeat(image[:, :1], pixels, axis=1), image[:, :-pixels]], axis=1)


@pytest.fixture(scope="module")
def face(shared_dir: Path) -> np.ndarray:
    return read_image(shared_dir / "samples" / "lia-demo" / "vox" / "macron.png").astype(np.float32) / 255


def test_l1_of_identical_frames_is_zero() -> None:
    frames = np.random.default_rng(0).random((3, 16, 16, 3), dtype=np.float32)
    assert score("l1", frames, frames.copy()) == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("k", [1, 5])
def test_l1_of_a_pixel_shift(k: int) -> None:
    size = 32
    original = horizontal_ramp(size=size)
    generated = np.roll(original, k, axis=2)
    # Columns that stay in place differ by k/size; the k wrapped-around columns by (size - k)/size.
    expected = ((size - k) * k / size + k * (size - k) / size) / size
    assert score("l1", generated, original) == pytest.approx([expected] * 2, abs=1e-6)


@needs_faces
def test_face_metrics_of_identical_frames_are_zero(face: np.ndarray) -> None:
    for name in ("akd", "aed", "aed-ssd", "mkr"):
        assert score(name, face[None], face[None].copy()) == [0.0], name


@needs_faces
@pytest.mark.parametrize("k", [4, 8])
def test_akd_of_a_horizontal_shift_is_half_the_shift(face: np.ndarray, k: int) -> None:
    # Landmarks move by (k, 0): the mean over both coordinates of |Δ| is k/2 (EVAL-PROTOCOL arithmetic).
    (akd,) = score("akd", shifted(face, k)[None], face[None])
    assert akd == pytest.approx(k / 2, abs=0.25 * k / 2 + 0.2)
    assert score("mkr", shifted(face, k)[None], face[None]) == [0.0]


@needs_faces
def test_aed_separates_identities(face: np.ndarray, shared_dir: Path) -> None:
    other = read_image(shared_dir / "samples" / "lia-demo" / "vox" / "mona_lisa.png").astype(np.float32) / 255
    (same_person,) = score("aed", shifted(face, 6)[None], face[None])
    (other_person,) = score("aed", other[None], face[None])
    assert 0 < same_person < other_person / 3
    (squared,) = score("aed-ssd", other[None], face[None])
    assert squared > 0 and not math.isclose(squared, other_person)


@needs_faces
def test_a_lost_face_counts_as_missing_and_is_not_scored(face: np.ndarray) -> None:
    blank = np.zeros_like(face)
    assert score("mkr", blank[None], face[None]) == [1.0]
    assert score("akd", blank[None], face[None]) == [None]
    assert score("aed", blank[None], face[None]) == [None]
    # No face in the original: undefined for every face metric, not a miss.
    assert score("mkr", face[None], blank[None]) == [None]


def test_face_metrics_share_one_detection_per_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = builtin_metrics()
    calls: list[int] = []
    detector = registry["akd"].backend.detector
    monkeypatch.setattr(type(detector), "extract", lambda self, batch: calls.append(len(batch)) or [None])
    generated = FrameBatch(np.zeros((1, 8, 8, 3), np.float32))
    original = FrameBatch(np.ones((1, 8, 8, 3), np.float32))
    for name in ("akd", "mkr"):
        registry[name].frame_values(generated, original)
    assert calls == [1, 1]  # once per side, not once per metric


def test_running_mean_skips_undefined_frames() -> None:
    mean = RunningMean()
    mean.add([1.0, None, 3.0])
    assert (mean.mean, mean.count) == (2.0, 2)
    assert RunningMean().mean is None


def test_default_selection_lists_unavailable_metrics() -> None:
    selected, unavailable = select_metrics()
    assert set(unavailable) >= set(UNAVAILABLE_METRICS)
    assert {metric.name for metric in selected} | set(unavailable) >= set(DEFAULT_METRICS)


def test_missing_face_models_make_face_metrics_unavailable(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setattr(faces, "face_model_dir", lambda: tmp_path)
    selected, unavailable = select_metrics()
    assert [metric.name for metric in selected] == ["l1"]
    assert "shape_predictor_68_face_landmarks.dat not found" in unavailable["akd"]
    with pytest.raises(AnimcliError, match="metric akd is unavailable"):
        select_metrics(["l1", "akd"])


@pytest.mark.parametrize("names, message",
                         [(["l2"], "unknown metric 'l2'"), (["lpips"], "lpips is unavailable")])
def test_bad_metric_requests_are_errors(names: list[str], message: str) -> None:
    with pytest.raises(AnimcliError, match=message):
        select_metrics(names)


def test_overall_score_weights_frames_not_videos() -> None:
    l1 = builtin_metrics()["l1"]
    short, long = VideoRecord("short"), VideoRecord("long")
    zeros = np.zeros((1, 4, 4, 3), np.float32)
    short.add([l1], zeros + 1, zeros)
    long.add([l1], np.repeat(zeros, 3, axis=0), np.repeat(zeros, 3, axis=0))
    report = Report([l1], {}, [short, long], {"mode": "comparison"})
    overall = report.as_dict()["overall"]
    assert overall["scores"]["l1"] == pytest.approx(0.25)  # 1 of 4 frames differs by 1
    assert overall["video_mean_scores"]["l1"] == pytest.approx(0.5)
    assert overall["frames"] == 4 and overall["videos"] == 2
    image = report.distribution_image()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_frame_size_mismatch_is_an_error() -> None:
    with pytest.raises(AnimcliError, match="frame sizes differ"):
        VideoRecord("clip").add([builtin_metrics()["l1"]], np.zeros((1, 4, 4, 3)), np.zeros((1, 8, 8, 3)))
