"""Monkey-Net's image-to-video keypoint predictor (paper §4.2 and supplementary §A; official
``modules/prediction_module.py`` and ``prediction.py``).

A GRU reads one vector per frame — the K keypoint means and, for 'matrix' variance, the K flattened 2×2
covariances — and a linear layer maps its hidden state back to such a vector. Frames after the observed
ones are fed as zeros, so the network has to carry the motion forward on its own: from the first frame's
keypoints it predicts the keypoint sequence of the following frames, which the motion-transfer generator
then renders with the first frame as appearance.

Keypoints here are official video keypoints: ``{"mean": (B, D, K, 2), "var": (B, D, K, 2, 2)}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from animcli.common.errors import ModelError
from animcli.models.monkeynet.keypoint_detector import KeypointVariance

Keypoints = dict[str, Tensor]

#: ``prediction_params`` every official config shares, used for configs that have none.
DEFAULT_PREDICTION_PARAMS: dict[str, Any] = {
    "rnn_params": {"num_features": 1024, "num_layers": 1, "dropout": 0},
    "predict_variance": False,
    "num_epochs": 1000,
    "lr": 1.0e-3,
    "batch_size": 256,
    "num_frames": 32,
    "init_frames": 1,
    "train_size": None,
    "format": ".gif",
}


@dataclass(frozen=True)
class PredictionParams:
    """The official ``prediction_params`` of a Monkey-Net config."""

    num_features: int
    num_layers: int
    dropout: float
    predict_variance: bool
    num_epochs: int
    lr: float
    batch_size: int
    num_frames: int
    init_frames: int
    #: how many training videos the official prediction.py reads (None: all); its loop stops at
    #: ``it > train_size``, so it reads train_size + 1.
    train_size: int | None

    @classmethod
    def of(cls, config: dict[str, Any]) -> PredictionParams:
        params = with_prediction_params(config)["prediction_params"]
        rnn = params["rnn_params"]
        try:
            found = cls(int(rnn["num_features"]), int(rnn["num_layers"]), float(rnn.get("dropout", 0)),
                        bool(params["predict_variance"]), int(params["num_epochs"]), float(params["lr"]),
                        int(params["batch_size"]), int(params["num_frames"]), int(params["init_frames"]),
                        None if params["train_size"] is None else int(params["train_size"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"the config's prediction_params are incomplete or malformed ({exc})") from None
        if not 1 <= found.init_frames < found.num_frames:
            raise ModelError("prediction_params need 1 <= init_frames < num_frames "
                             f"(got {found.init_frames} and {found.num_frames})")
        return found


def with_prediction_params(config: dict[str, Any]) -> dict[str, Any]:
    """The config with the official default ``prediction_params`` filled in where it has none."""
    given = config.get("prediction_params") or {}
    params = {**DEFAULT_PREDICTION_PARAMS, **given}
    params["rnn_params"] = {**DEFAULT_PREDICTION_PARAMS["rnn_params"], **(given.get("rnn_params") or {})}
    return {**config, "prediction_params": params}


class KeypointPredictor(nn.Module):
    """The official PredictionModule: a GRU over per-frame keypoint vectors and a linear read-out."""

    def __init__(self, num_kp: int, kp_variance: KeypointVariance, num_features: int, num_layers: int,
                 dropout: float = 0) -> None:
        super().__init__()
        input_size = num_kp * (2 + 4 * (kp_variance == "matrix"))
        self.rnn = nn.GRU(input_size=input_size, hidden_size=num_features, num_layers=num_layers,
                          dropout=dropout, batch_first=True)
        self.linear = nn.Linear(num_features, input_size)

    def forward(self, kp: Keypoints) -> Keypoints:
        """Keypoints (B, D, K, …) in, the predicted keypoints of the same D frames out."""
        batch, frames, num_kp, _ = kp["mean"].shape
        inputs = [kp["mean"].reshape(batch, frames, -1)]
        if "var" in kp:
            inputs.append(kp["var"].reshape(batch, frames, -1))
        output, _ = self.rnn(torch.cat(inputs, dim=-1))
        output = self.linear(output).view(batch, frames, num_kp, -1)
        predicted = {"mean": torch.tanh(output[..., :2])}
        if "var" in kp:
            # VᵀV keeps every predicted covariance symmetric positive semi-definite.
            factor = output[..., 2:].reshape(batch, frames, num_kp, 2, 2)
            predicted["var"] = factor.transpose(-1, -2) @ factor
        return predicted

    def continue_sequence(self, observed: Keypoints, num_frames: int, predict_variance: bool) -> Keypoints:
        """The official test procedure: the T observed frames (B, T, K, …) followed by zeros up to
        ``num_frames``, predicted, with the observed frames copied back. ``predict_variance`` True replaces
        every frame's covariance by the last observed one (the official code's condition is the opposite of
        its config comment; this follows the code)."""
        observed_frames = observed["mean"].shape[1]
        if not 1 <= observed_frames <= num_frames:
            raise ModelError(f"cannot continue {observed_frames} observed frames to {num_frames} frames")
        inputs = {key: torch.cat([value, value.new_zeros(value.shape[0], num_frames - observed_frames,
                                                         *value.shape[2:])], dim=1)
                  for key, value in observed.items()}
        predicted = {key: torch.cat([observed[key], value[:, observed_frames:]], dim=1)
                     for key, value in self(inputs).items()}
        if predict_variance and "var" in predicted:
            last = observed["var"][:, observed_frames - 1:observed_frames]
            predicted["var"] = last.expand_as(predicted["var"]).clone()
        return predicted


def hide_future(kp: Keypoints, init_frames: int) -> Keypoints:
    """The training input: a copy of the keypoints with every frame from ``init_frames`` on set to zero."""
    hidden = {key: value.clone() for key, value in kp.items()}
    for value in hidden.values():
        value[:, init_frames:] = 0
    return hidden


def prediction_loss(predicted: Keypoints, target: Keypoints, init_frames: int) -> Tensor:
    """The official loss: Σ over mean and var of the mean L1 error on the predicted frames (≥ init_frames)."""
    return sum(torch.abs(target[key][:, init_frames:] - predicted[key][:, init_frames:]).mean() for key in target)


def build_predictor(config: dict[str, Any], state_dict: dict[str, Tensor] | None = None) -> KeypointPredictor:
    """The predictor of a Monkey-Net config: keypoints from ``common_params``; the GRU's size read off
    ``state_dict`` when one is given (a saved predictor fits whatever the config says about training), else
    from ``prediction_params.rnn_params``."""
    common = config["model_params"].get("common_params", {})
    if state_dict is None:
        params = PredictionParams.of(config)
        num_features, num_layers, dropout = params.num_features, params.num_layers, params.dropout
    else:  # dropout acts in training only
        num_features, num_layers, dropout = predictor_size(state_dict), recurrent_layers(state_dict), 0
    return KeypointPredictor(int(common["num_kp"]), common.get("kp_variance", "matrix"), num_features,
                             num_layers, dropout)


def predictor_size(state_dict: dict[str, Tensor]) -> int:
    weight = state_dict.get("rnn.weight_hh_l0")
    if weight is None or weight.dim() != 2:
        raise ModelError("checkpoint entry 'predictor' has no GRU weights (rnn.weight_hh_l0)")
    return int(weight.shape[1])


def recurrent_layers(state_dict: dict[str, Tensor]) -> int:
    layers = 0
    while f"rnn.weight_hh_l{layers}" in state_dict:
        layers += 1
    return layers
