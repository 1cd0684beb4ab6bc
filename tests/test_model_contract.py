"""The contract every registered model family keeps (like timm's test_models.py), on each family's shared
fixture checkpoint: it claims its own config and checkpoint and no other family's, refuses checkpoints that do
not fit, animates (a still driving video gives a still result), runs its fp16 path, and compares poses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from animcli.common.errors import ModelError
from animcli.data.synth import synth_source_and_driving
from animcli.inference.animator import Animator
from animcli.models import FAMILIES, AnimationModel, detect_family, family_class
from animcli.models.base import TransferOptions
from animcli.models.configs import resolve_config
from animcli.models.graphs import StateLayout
from animcli.weights.checkpoint_io import load_checkpoint_file
from animcli.weights.loading import load_model

FAMILY_NAMES = sorted(FAMILIES)


def fixture_files(reference_dir: Path, family: str) -> tuple[Path, Path]:
    """The family's fixture config and official-layout checkpoint (reference/<family>/fixtures)."""
    folder = reference_dir / family / "fixtures"
    configs = sorted(folder.glob("config.*"))
    checkpoints = sorted(folder.glob("checkpoint.*"))
    if not configs or not checkpoints:
        pytest.fail(f"{folder} lacks config.* or checkpoint.* for the {family} contract test")
    return configs[0], checkpoints[0]


@pytest.fixture(scope="module")
def fixtures(reference_dir: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any], Path, Path]]:
    """family → (config, checkpoint, config path, checkpoint path)."""
    found = {}
    for family in FAMILY_NAMES:
        config_path, checkpoint_path = fixture_files(reference_dir, family)
        found[family] = (resolve_config(config_path), load_checkpoint_file(checkpoint_path), config_path,
                         checkpoint_path)
    return found


@pytest.fixture(scope="module")
def models(fixtures: dict[str, tuple]) -> dict[str, AnimationModel]:
    return {family: load_model(checkpoint_path, config_path, device="cpu")
            for family, (_, _, config_path, checkpoint_path) in fixtures.items()}


def still_and_moving(model: AnimationModel) -> tuple[np.ndarray, list[np.ndarray]]:
    source, driving = synth_source_and_driving(seed=3, size=model.size, num_frames=2)
    return source, list(driving)


def predictions(model: AnimationModel, source: np.ndarray, frames: list[np.ndarray], **animator: Any) -> np.ndarray:
    batches = Animator(model, TransferOptions(mode="relative"), batch_size=2, **animator).animate(source, frames)
    return np.concatenate([batch.prediction for batch in batches])


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_claims_its_own_config_and_checkpoint_and_no_other(family: str, fixtures: dict[str, tuple]) -> None:
    config, checkpoint, _, _ = fixtures[family]
    assert detect_family(config=config) == family
    assert detect_family(checkpoint=checkpoint) == family
    for other in FAMILY_NAMES:
        if other != family:
            assert not family_class(other).claims_config(config), f"{other} claims the {family} config"
            assert not family_class(other).claims_checkpoint(checkpoint), f"{other} claims the {family} checkpoint"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_refuses_other_families_checkpoints_in_one_line(family: str, fixtures: dict[str, tuple]) -> None:
    config = fixtures[family][0]
    for other in FAMILY_NAMES:
        if other != family:
            with pytest.raises(ModelError) as refusal:
                family_class(family)(config).load_checkpoint(fixtures[other][1])
            assert "\n" not in str(refusal.value)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_animates_and_a_still_driving_video_gives_a_still_result(family: str, models: dict) -> None:
    model = models[family]
    source, moving = still_and_moving(model)
    animated = predictions(model, source, moving)
    assert animated.shape == (2, model.size, model.size, 3)
    assert animated.min() >= 0 and animated.max() <= 1
    still = predictions(model, source, [moving[0]] * 2)
    assert np.allclose(still, still[:1], atol=1e-5), "relative motion of a still video must not move the source"
    assert np.abs(animated[1:] - still[1:]).max() > 0.01, "a moving driving video must move the result"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_fp16_path_runs_on_cpu_and_stays_close_to_float32(family: str, models: dict) -> None:
    model = models[family]
    source, moving = still_and_moving(model)
    full = predictions(model, source, moving, precision="fp32")
    half = predictions(model, source, moving, precision="fp16")
    assert np.isfinite(half).all()
    assert np.abs(half - full).max() > 0, "the fp16 request did not reach the networks"
    assert np.abs(half - full).mean() < 0.005


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_pose_distance_is_zero_to_itself_and_positive_to_another_pose(family: str, models: dict) -> None:
    model = models[family]
    source, moving = still_and_moving(model)
    animator = Animator(model, batch_size=1)
    with torch.inference_mode():
        source_motion = model.source_motion(animator.encode_source(source))
        distances = model.pose_distance(source_motion, animator.driving_motion(source))
        other = model.pose_distance(source_motion, animator.driving_motion(moving[-1]))
    assert distances.shape == (1,) and float(distances[0]) < 1e-4
    assert float(other[0]) > float(distances[0])


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_the_official_loops_per_frame_source_state_equals_a_fresh_encoding(family: str, models: dict) -> None:
    """``animcli bench``'s baseline recomputes per frame what the official generator recomputes; the state must
    be the very one a fresh encoding gives (whatever part of it the family's demo computes only once)."""
    model = models[family]
    source = torch.from_numpy(still_and_moving(model)[0][None]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        first = model.encode_source(source)
        again = model.official_frame_source(source, first)
    fresh, repeated = [StateLayout.of(state).flatten(state) for state in (first, again)]
    assert len(fresh) == len(repeated)
    for expected, got in zip(fresh, repeated, strict=True):
        assert torch.equal(expected, got)
