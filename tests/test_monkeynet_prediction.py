"""The keypoint predictor against the official PredictionModule / prediction.py fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_close

from animcli.common.errors import ModelError
from animcli.models.monkeynet.prediction import (
    KeypointPredictor,
    PredictionParams,
    build_predictor,
    hide_future,
    prediction_loss,
)

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def fixture_dir(reference_dir: Path) -> Path:
    return reference_dir / "monkeynet" / "fixtures" / "prediction"


@pytest.fixture(scope="module")
def meta(fixture_dir: Path) -> dict:
    return json.loads((fixture_dir / "prediction_meta.json").read_text())


@pytest.fixture(scope="module")
def arrays(fixture_dir: Path) -> dict[str, np.ndarray]:
    return dict(np.load(fixture_dir / "prediction.npz"))


@pytest.fixture(scope="module")
def predictor(fixture_dir: Path, meta: dict) -> KeypointPredictor:
    module = KeypointPredictor(meta["num_kp"], meta["kp_variance"], meta["num_features"], meta["num_layers"],
                               meta["dropout"])
    module.load_state_dict(torch.load(fixture_dir / "predictor.pt", weights_only=True), strict=True)
    return module.eval()


def ground_truth(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {"mean": torch.from_numpy(arrays["gt_mean"]), "var": torch.from_numpy(arrays["gt_var"])}


def test_state_dict_names_and_shapes_are_official(meta: dict) -> None:
    for sizes, num_features in ((meta["keys"], meta["num_features"]), (meta["full_size_keys"], 1024)):
        module = KeypointPredictor(meta["num_kp"], "matrix", num_features, meta["num_layers"])
        assert {key: list(value.shape) for key, value in module.state_dict().items()} == sizes


def test_forward_matches_official(predictor: KeypointPredictor, arrays: dict, meta: dict) -> None:
    with torch.no_grad():
        predicted = predictor(hide_future(ground_truth(arrays), meta["init_frames"]))
    assert_close(predicted["mean"], arrays["pred_mean"], TOLERANCE, "mean")
    assert_close(predicted["var"], arrays["pred_var"], TOLERANCE, "var")


def test_training_loss_matches_official(predictor: KeypointPredictor, arrays: dict, meta: dict) -> None:
    target = ground_truth(arrays)
    loss = prediction_loss(predictor(hide_future(target, meta["init_frames"])), target, meta["init_frames"])
    assert abs(float(loss.detach()) - float(arrays["train_loss"])) <= TOLERANCE
    loss.backward()  # the loss trains the predictor
    assert predictor.rnn.weight_hh_l0.grad.abs().sum() > 0
    predictor.zero_grad(set_to_none=True)


def test_hide_future_leaves_its_input_alone(arrays: dict) -> None:
    target = ground_truth(arrays)
    hidden = hide_future(target, 1)
    assert float(hidden["mean"][:, 1:].abs().sum()) == 0 and float(hidden["var"][:, 1:].abs().sum()) == 0
    assert torch.equal(hidden["mean"][:, :1], target["mean"][:, :1])
    assert float(target["mean"][:, 1:].abs().sum()) > 0


@pytest.mark.parametrize("predict_variance", [False, True])
def test_test_procedure_matches_official(predictor: KeypointPredictor, arrays: dict, meta: dict,
                                         predict_variance: bool) -> None:
    target = ground_truth(arrays)
    observed = {key: value[:, :meta["init_frames"]] for key, value in target.items()}
    with torch.no_grad():
        predicted = predictor.continue_sequence(observed, meta["frames"], predict_variance)
    suffix = f"pv{int(predict_variance)}"
    assert_close(predicted["mean"], arrays[f"test_mean_{suffix}"], TOLERANCE, "mean")
    assert_close(predicted["var"], arrays[f"test_var_{suffix}"], TOLERANCE, "var")


def test_params_default_to_the_official_values_and_are_checked() -> None:
    config = {"model_params": {"common_params": {"num_kp": 3, "kp_variance": "matrix"}}}
    params = PredictionParams.of(config)
    assert (params.num_features, params.num_frames, params.init_frames, params.batch_size) == (1024, 32, 1, 256)
    small = {**config, "prediction_params": {"rnn_params": {"num_features": 8}, "init_frames": 2}}
    predictor = build_predictor(small)
    assert predictor.rnn.hidden_size == 8 and predictor.linear.out_features == 3 * 6
    with pytest.raises(ModelError, match="init_frames"):
        PredictionParams.of({**config, "prediction_params": {"init_frames": 32}})


def test_size_is_read_off_a_saved_state_dict() -> None:
    config = {"model_params": {"common_params": {"num_kp": 2, "kp_variance": "matrix"}},
              "prediction_params": {"rnn_params": {"num_features": 1024}}}
    trained = KeypointPredictor(2, "matrix", 12, 2).state_dict()
    rebuilt = build_predictor(config, trained)
    rebuilt.load_state_dict(trained, strict=True)
    assert (rebuilt.rnn.hidden_size, rebuilt.rnn.num_layers) == (12, 2)
