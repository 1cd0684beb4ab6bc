"""The bundled demo model (checkpoints/demo) animates for real, on held-out clips of the data it was trained on
(`animcli data synth --videos 600 --seed 0`, whose last 60 clips are the test split): it at least halves the
error of copying the source frame, and its keypoints spread over the moving shape and follow it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from animcli.data.synth import synth_clip
from animcli.media import write_image
from animcli.models.base import AnimationModel
from animcli.train.validation import reconstruction_l1
from animcli.weights.loading import load_model

HELD_OUT = range(540, 600)
SIZE = 64


@pytest.fixture(scope="module")
def demo_model() -> AnimationModel:
    return load_model(model="demo", device="cpu").eval()


def test_demo_model_at_least_halves_the_copy_the_source_error(demo_model: AnimationModel, tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    for seed in HELD_OUT[:6]:
        write_image(tmp_path / "test" / f"{seed:06d}.png", np.concatenate(list(synth_clip(seed, SIZE)), axis=1))

    score = reconstruction_l1(demo_model, tmp_path / "test")

    assert score.frames == 6 * 32
    assert score.model <= 0.5 * score.copy_source


def object_centre(frame: np.ndarray) -> np.ndarray:
    """Centroid (x, y) in [-1, 1] of the shape: its colours have a full channel, the background is black."""
    ys, xs = np.nonzero(frame.max(axis=2) > 0.7 * 255)
    return np.array([xs.mean(), ys.mean()]) * 2 / (SIZE - 1) - 1


def test_demo_keypoints_spread_over_the_object_and_follow_it(demo_model: AnimationModel) -> None:
    spreads, misses, motions = [], [], []
    for seed in HELD_OUT[:10]:
        clip = synth_clip(seed, SIZE)
        with torch.no_grad():
            frames = torch.from_numpy(clip).permute(0, 3, 1, 2).float() / 255
            keypoints = demo_model.keypoints(demo_model.encode_driving(frames)).numpy()  # (T, K, 2)
        centres = np.stack([object_centre(frame) for frame in clip])
        spreads.append(np.linalg.norm(keypoints - keypoints.mean(axis=1, keepdims=True), axis=2).mean())
        kp_motion = keypoints.mean(axis=1) - keypoints.mean(axis=1)[0]
        object_motion = centres - centres[0]
        misses.append(np.abs(kp_motion - object_motion).mean())
        motions.append(np.abs(object_motion).mean())
    # Spread: on average 0.1 (in [-1, 1] units) or more from their centre, not one cluster (the shapes' radius
    # is 0.4–0.56 in these units).
    assert np.mean(spreads) > 0.1
    # Follow: their mean moves with the object's centre, off by under a third of how far the object moved.
    assert np.mean(misses) < 0.3 * np.mean(motions)
