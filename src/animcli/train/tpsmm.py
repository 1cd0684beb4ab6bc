"""TPSMM training (the official train.py / GeneratorFullModel and train_avd.py, SPEC §13).

Animation task: perceptual pyramid (VGG19) + equivariance of the keypoints under a random TPS warp (squared-L2
kernel) + warp loss (the warped source encoder maps against the driving frame's own, occlusion-masked) + BG loss
(the background affines of (source, driving) and (driving, source) compose to the identity), with whole-slot
dropout of the contribution maps in the first ``dropout_epoch`` epochs; one Adam with weight decay for the
inpainting, dense motion and keypoint networks, one for the BG predictor (trained from ``bg_start`` on), and
∞-norm gradient clipping at 10 for everything but the inpainting network.

AVD task (``--task avd``): the AVD network of a trained model learns to rebuild driving keypoints from a randomly
rescaled copy of them (the pose) and the source's keypoints (the identity).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from animcli.common.errors import ModelError
from animcli.models.state_dicts import load_strict
from animcli.models.tpsmm import build_networks
from animcli.models.tpsmm.tps import radial_of_offsets
from animcli.train.losses import PerceptualLoss, l1
from animcli.train.tps import RandomTps
from animcli.train.trainer import DataSettings, FamilyTrainer, Preview, TrainContext

#: ∞-norm bound of the keypoint, dense motion and BG gradients (official clip_grad_norm_ max_norm)
GRADIENT_CLIP = 10.0
ADAM_BETAS = (0.5, 0.999)
WEIGHT_DECAY = 1e-4
#: the generator-side networks, in the order the official optimiser holds their parameters
GENERATOR_NETWORKS = ("inpainting_network", "dense_motion_network", "kp_detector")


def frame_shape(config: dict[str, Any]) -> tuple[int, int]:
    shape = (config.get("dataset_params") or {}).get("frame_shape") or [256, 256]
    return int(shape[0]), int(shape[1])


def dropout_probability(train_params: dict[str, Any], epoch: int) -> float | None:
    """The contribution-map dropout of ``epoch``: rising from dropout_startp by dropout_maxp every
    dropout_inc_epoch epochs up to dropout_maxp; None (off) from dropout_epoch on."""
    if epoch >= train_params["dropout_epoch"]:
        return None
    rising = epoch / train_params["dropout_inc_epoch"] * train_params["dropout_maxp"] + train_params["dropout_startp"]
    return min(rising, train_params["dropout_maxp"])


class GeneratorFullModel(nn.Module):
    """Keypoints → BG → dense motion → inpainting → every loss term, in one forward (the unit DDP wraps)."""

    def __init__(self, networks: dict[str, nn.Module], perceptual: PerceptualLoss,
                 train_params: dict[str, Any]) -> None:
        super().__init__()
        self.kp_detector = networks["kp_detector"]
        self.dense_motion_network = networks["dense_motion_network"]
        self.inpainting_network = networks["inpainting_network"]
        self.bg_predictor = networks.get("bg_predictor")
        self.perceptual = perceptual
        self.train_params = train_params
        self.weights = train_params["loss_weights"]

    def forward(self, source: Tensor, driving: Tensor, epoch: int) -> tuple[dict[str, Tensor], dict[str, Any]]:
        kp_source, kp_driving = self.kp_detector(source), self.kp_detector(driving)
        bg_active = self.bg_predictor is not None and epoch >= self.train_params["bg_start"]
        bg_param = self.bg_predictor(source, driving) if bg_active else None
        dense = self.dense_motion_network(source, {"value": kp_driving["fg_kp"]}, {"value": kp_source["fg_kp"]},
                                          bg_param, dropout_probability(self.train_params, epoch))
        generated = self.inpainting_network(source, dense, warped_maps=bool(self.weights["warp_loss"]))
        generated.update(kp_source=kp_source["fg_kp"], kp_driving=kp_driving["fg_kp"])
        losses = {"perceptual": self.perceptual(generated["prediction"], driving)}
        if self.weights["equivariance_value"]:
            losses["equivariance_value"] = self.equivariance(driving, kp_driving["fg_kp"])
        if self.weights["warp_loss"]:
            losses["warp_loss"] = self.warp_loss(driving, generated)
        if bg_param is not None and self.weights["bg"]:
            losses["bg"] = self.background_loss(source, driving, bg_param)
        return losses, generated

    def equivariance(self, driving: Tensor, kp_driving: Tensor) -> Tensor:
        """The detector must commute with a random warp T: kp(driving) ≈ T(kp(driving warped by T))."""
        transform = RandomTps.sample(driving.shape[0], device=driving.device, radial=radial_of_offsets,
                                     **self.train_params["transform_params"])
        kp_transformed = self.kp_detector(transform.transform_frame(driving))["fg_kp"]
        return self.weights["equivariance_value"] * l1(kp_driving, transform.warp(kp_transformed))

    def warp_loss(self, driving: Tensor, generated: dict[str, Any]) -> Tensor:
        """The warped source encoder maps (coarsest first) against the driving frame's own (finest first)."""
        targets = self.inpainting_network.encode_target(driving, generated["occlusion_map"])
        warped = generated["warped_encoder_maps"]
        return self.weights["warp_loss"] * sum(l1(target, warped[-(level + 1)]) for level, target in enumerate(targets))

    def background_loss(self, source: Tensor, driving: Tensor, bg_param: Tensor) -> Tensor:
        reverse = self.bg_predictor(driving, source)
        identity = torch.eye(3, device=bg_param.device).expand_as(bg_param)
        return self.weights["bg"] * l1(identity, bg_param @ reverse)


def clip_gradients(network: nn.Module) -> None:
    torch.nn.utils.clip_grad_norm_(network.parameters(), GRADIENT_CLIP, norm_type=float("inf"))


class TpsmmTrainer(FamilyTrainer):
    family = "tpsmm"

    def __init__(self, config: dict[str, Any], context: TrainContext) -> None:
        super().__init__(config, context)
        params = config["train_params"]
        self.networks = {key: net.to(context.device) for key, net in build_networks(config).items()
                         if key != "avd_network"}
        perceptual = context.perceptual_loss(params["scales"], params["loss_weights"]["perceptual"])
        self.full_model = context.parallel(GeneratorFullModel(self.networks, perceptual, params).to(context.device))
        generator_parameters = [p for key in GENERATOR_NETWORKS for p in self.networks[key].parameters()]
        self.optimizers = {"optimizer": self.adam(generator_parameters, params["lr_generator"])}
        if "bg_predictor" in self.networks:
            self.optimizers["optimizer_bg_predictor"] = self.adam(self.networks["bg_predictor"].parameters(),
                                                                  params["lr_generator"])
        self.schedulers = {key: torch.optim.lr_scheduler.MultiStepLR(optimizer, params["epoch_milestones"], 0.1)
                           for key, optimizer in self.optimizers.items()}

    @staticmethod
    def adam(parameters: Any, lr: float) -> torch.optim.Adam:
        return torch.optim.Adam(parameters, lr=lr, betas=ADAM_BETAS, weight_decay=WEIGHT_DECAY)

    @staticmethod
    def frame_shape(config: dict[str, Any]) -> tuple[int, int]:
        return frame_shape(config)

    @property
    def epoch(self) -> int:
        """Epochs completed: the schedule counts them (and a resumed run restores it)."""
        return self.schedulers["optimizer"].last_epoch

    def bg_active(self) -> bool:
        return "bg_predictor" in self.networks and self.epoch >= self.config["train_params"]["bg_start"]

    def train_step(self, source: Tensor, driving: Tensor) -> dict[str, float]:
        precision = self.context.precision
        with precision.autocast():
            losses, generated = self.full_model(source, driving, self.epoch)
        precision.backward(sum(losses.values()))
        stepped = ["optimizer", "optimizer_bg_predictor"] if self.bg_active() else ["optimizer"]
        for key in stepped:
            precision.scaler.unscale_(self.optimizers[key])  # clipping bounds the true gradients
        clip_gradients(self.networks["kp_detector"])
        clip_gradients(self.networks["dense_motion_network"])
        if self.bg_active():
            clip_gradients(self.networks["bg_predictor"])
        for key in stepped:
            precision.step(self.optimizers[key])
            self.optimizers[key].zero_grad(set_to_none=True)
        precision.update()
        self.latest_preview = Preview.of(source, driving, generated["prediction"], generated["kp_source"],
                                         generated["kp_driving"])
        return {name: float(value.detach()) for name, value in losses.items()}


class AvdTrainer(FamilyTrainer):
    """The AVD network of a trained TPSMM (official train_avd.py); the other networks are carried unchanged,
    except that the keypoint detector runs in training mode as officially, so its BatchNorm statistics move."""

    family = "tpsmm"
    task = "avd"
    starts_from_trained_model = True
    CARRIED: ClassVar[tuple[str, ...]] = GENERATOR_NETWORKS

    def __init__(self, config: dict[str, Any], context: TrainContext) -> None:
        super().__init__(config, context)
        self.params = config["train_avd_params"]
        self.networks = {key: net.to(context.device) for key, net in build_networks(config).items()}
        if "avd_network" not in self.networks:
            raise ModelError("the config has no model_params.avd_network_params to build the AVD network from")
        optimizer = torch.optim.Adam(self.networks["avd_network"].parameters(), lr=self.params["lr"],
                                     betas=ADAM_BETAS)
        self.optimizers = {"optimizer_avd": optimizer}
        # The official scheduler.step(epoch) applies each decay one epoch after its milestone.
        milestones = [milestone + 1 for milestone in self.params["epoch_milestones"]]
        self.schedulers = {"optimizer_avd": torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, 0.1)}

    @staticmethod
    def frame_shape(config: dict[str, Any]) -> tuple[int, int]:
        return frame_shape(config)

    @classmethod
    def data_settings(cls, config: dict[str, Any]) -> DataSettings:
        return super().data_settings({**config, "train_params": config["train_avd_params"]})

    @staticmethod
    def with_batch_size(config: dict[str, Any], batch_size: int) -> dict[str, Any]:
        updated = copy.deepcopy(config)
        updated["train_avd_params"]["batch_size"] = batch_size
        return updated

    def initialize(self, checkpoint: dict[str, Any]) -> None:
        """The trained networks (required; the BG predictor when the config has one) and an AVD network to
        continue if the checkpoint has one."""
        missing = [key for key in self.CARRIED if key not in checkpoint]
        if missing:
            raise ModelError(f"the model to train an AVD network for has no {missing[0]!r} entry")
        for key, net in self.networks.items():
            if key in checkpoint:
                load_strict(net, checkpoint[key], key)

    def train_step(self, source: Tensor, driving: Tensor) -> dict[str, float]:
        kp_detector, avd = self.networks["kp_detector"], self.networks["avd_network"]
        with torch.no_grad():
            kp_source, kp_driving = kp_detector(source)["fg_kp"], kp_detector(driving)["fg_kp"]
        scale = torch.rand(driving.shape[0], 2, device=driving.device) * (2 * self.params["random_scale"])
        kp_random = kp_driving * (scale + 1 - self.params["random_scale"])[:, None, :]
        rebuilt = avd({"fg_kp": kp_source}, {"fg_kp": kp_random})["fg_kp"]
        loss = self.params["lambda_shift"] * l1(kp_driving, rebuilt)
        optimizer = self.optimizers["optimizer_avd"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return {"rec_kp": float(loss.detach())}


TpsmmTrainer.other_tasks = {"avd": AvdTrainer}
TRAINER = TpsmmTrainer
