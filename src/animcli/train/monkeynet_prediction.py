"""Training Monkey-Net's image-to-video keypoint predictor (the official prediction.py, spec §12).

The trained Monkey-Net's detector extracts the keypoints of every training video once (no augmentation, frame
by frame, in eval mode), one video at a time into one compact store; the extraction reports its progress and
may use half of ``--max-minutes`` (a resumed run extracts the same videos again). The predictor then learns
from random windows of ``num_frames`` consecutive frames whose inputs after ``init_frames`` are zeroed, with an
L1 loss on means and covariances, Adam and ReduceLROnPlateau (patience 50) on each epoch's mean loss. The
detector and generator are carried unchanged into the run's checkpoint, which gains the ``predictor`` entry:
it is a complete Monkey-Net checkpoint.
"""

from __future__ import annotations

import copy
import statistics
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from animcli.common.errors import ModelError
from animcli.data import Augmentation, DatasetError, read_video, split_videos
from animcli.data.augment import fit_frames
from animcli.data.dataset import ItemKey
from animcli.models.monkeynet import MonkeyNetModel, frame_shape
from animcli.models.monkeynet.prediction import (
    KeypointPredictor,
    Keypoints,
    PredictionParams,
    build_predictor,
    hide_future,
    prediction_loss,
    with_prediction_params,
)
from animcli.models.state_dicts import load_strict
from animcli.train.trainer import DataSettings, FamilyTrainer, TrainContext, adam_step_order

#: ReduceLROnPlateau's patience in the official prediction.py (epochs without improvement).
PLATEAU_PATIENCE = 50
#: frames per detector call while extracting keypoints (bounds memory on long videos).
DETECTION_CHUNK = 64
#: the share of the time left under --max-minutes the keypoint extraction may use; the rest trains.
EXTRACTION_SHARE = 0.5


class KeypointStore:
    """Every training video's keypoints, one growing float32 array per field (``mean``, ``var``) with the
    videos' frame offsets: a few large blocks instead of thousands of small tensors, whose allocations between
    the videos' large frame buffers kept ~1 MB of heap per video alive (issue 29). Costs 4 bytes per number:
    K × 6 × 4 bytes per frame with matrix covariances (96 B for 4 keypoints: 20 MB for 6,400 videos of 32 frames).
    """

    def __init__(self) -> None:
        self.fields: dict[str, np.ndarray] = {}
        self.starts = [0]

    def __len__(self) -> int:
        return len(self.starts) - 1

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in self.fields.values())

    def append(self, video: dict[str, np.ndarray]) -> None:
        start, end = self.starts[-1], self.starts[-1] + len(next(iter(video.values())))
        for name, values in video.items():
            stored = self.fields.get(name)
            if stored is None or len(stored) < end:  # double the capacity: few, large reallocations
                grown = np.empty((max(2 * end, 1024), *values.shape[1:]), np.float32)
                if stored is not None:
                    grown[:start] = stored[:start]
                self.fields[name] = stored = grown
            stored[start:end] = values
        self.starts.append(end)

    def truncate(self, count: int) -> None:
        """Keep the first ``count`` videos."""
        del self.starts[count + 1:]

    def frames(self, index: int) -> int:
        return self.starts[index + 1] - self.starts[index]

    def window(self, index: int, start: int, length: int) -> Keypoints:
        begin = self.starts[index] + start
        return {name: torch.from_numpy(array[begin:begin + length].copy()) for name, array in self.fields.items()}


class KeypointWindows(Dataset):
    """One random window of ``num_frames`` consecutive frames of each video's keypoints per epoch."""

    def __init__(self, keypoints: KeypointStore, num_frames: int) -> None:
        shortest = min(keypoints.frames(index) for index in range(len(keypoints)))
        if shortest < num_frames:
            raise DatasetError(f"a training video has {shortest} frames, fewer than prediction_params.num_frames "
                               f"({num_frames}); lower num_frames in the config")
        self.keypoints, self.num_frames = keypoints, num_frames

    def __len__(self) -> int:
        return len(self.keypoints)

    def __getitem__(self, key: ItemKey) -> Keypoints:
        index, seed = key
        start = int(np.random.default_rng(seed).integers(self.keypoints.frames(index) - self.num_frames + 1))
        return self.keypoints.window(index, start, self.num_frames)


def extract_keypoints(kp_detector: nn.Module, videos: list[Path], frame_shape: tuple[int, int],
                      device: torch.device) -> Iterator[dict[str, np.ndarray]]:
    """Each video's keypoints in turn, as the official extraction (eval mode). One video is read at a time and
    nothing of it outlives its turn: memory does not grow with the number of videos."""
    kp_detector.eval()
    for path in videos:
        yield detect_video(kp_detector, path, frame_shape, device)


@torch.no_grad()
def detect_video(kp_detector: nn.Module, path: Path, frame_shape: tuple[int, int],
                 device: torch.device) -> dict[str, np.ndarray]:
    """Every frame's keypoints (T, K, …) of one video, as numpy arrays on the CPU."""
    frames = fit_frames(read_video(path).astype(np.float32) / 255.0, frame_shape)
    video = torch.from_numpy(np.ascontiguousarray(frames.transpose(3, 0, 1, 2)))[None]
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, video.shape[2], DETECTION_CHUNK):
        for name, values in kp_detector(video[:, :, start:start + DETECTION_CHUNK].to(device)).items():
            chunks.setdefault(name, []).append(values[0].cpu().numpy())
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


class PredictorLoss(nn.Module):
    """The predictor and its loss as one module, so data parallelism wraps both."""

    def __init__(self, predictor: KeypointPredictor, init_frames: int) -> None:
        super().__init__()
        self.predictor, self.init_frames = predictor, init_frames

    def forward(self, keypoints: Keypoints) -> Tensor:
        predicted = self.predictor(hide_future(keypoints, self.init_frames))
        return prediction_loss(predicted, keypoints, self.init_frames)


class KeypointPredictorTrainer(FamilyTrainer):
    family = "monkeynet"
    task = "prediction"
    starts_from_trained_model = True
    #: the networks of the trained Monkey-Net, carried into the checkpoint unchanged.
    CARRIED: ClassVar[tuple[str, ...]] = ("generator", "kp_detector")

    def __init__(self, config: dict[str, Any], context: TrainContext) -> None:
        super().__init__(config, context)
        self.params = PredictionParams.of(config)
        built = MonkeyNetModel.build_networks(config)
        predictor = build_predictor(config).to(context.device)
        self.networks = {"generator": built["generator"].to(context.device),
                         "kp_detector": built["kp_detector"].to(context.device), "predictor": predictor}
        self.loss = context.parallel(PredictorLoss(predictor, self.params.init_frames))
        optimizer = torch.optim.Adam(predictor.parameters(), lr=self.params.lr)
        self.optimizers = {"optimizer_predictor": optimizer}
        self.schedulers = {"predictor": torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer,
                                                                                  patience=PLATEAU_PATIENCE)}
        #: this epoch's batch losses, whose mean drives the plateau schedule at the epoch's end.
        self.epoch_losses: list[float] = []
        #: how many training videos the run trains on (fixed by its first extraction, kept for resume).
        self.num_videos: int | None = None

    # -- configuration and data ---------------------------------------------------------------------
    @classmethod
    def training_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        return with_prediction_params(config)

    @staticmethod
    def frame_shape(config: dict[str, Any]) -> tuple[int, int]:
        return frame_shape(config)

    @classmethod
    def data_settings(cls, config: dict[str, Any]) -> DataSettings:
        params = PredictionParams.of(config)
        return DataSettings(frame_shape=cls.frame_shape(config), augmentation=Augmentation(),
                            pair_sampling=cls.pair_sampling, batch_size=params.batch_size,
                            num_epochs=params.num_epochs)

    @staticmethod
    def with_batch_size(config: dict[str, Any], batch_size: int) -> dict[str, Any]:
        updated = copy.deepcopy(with_prediction_params(config))
        updated["prediction_params"]["batch_size"] = batch_size
        return updated

    def training_data(self, root: Path, settings: DataSettings) -> Dataset:
        videos = split_videos(root, "train")
        if self.params.train_size is not None:
            videos = videos[:self.params.train_size + 1]  # the official loop stops at `it > train_size`
        resumed = self.num_videos is not None
        if resumed:  # the videos the run trained on, however long extracting them takes now
            videos = videos[:self.num_videos]
        store = self.extract(videos, None if resumed else self.extraction_deadline())
        store.truncate(self.global_min(len(store)))  # processes stopped by the clock agree on the fewest
        if len(store) < len(videos):
            warnings.warn(f"the keypoint extraction may use half of --max-minutes: the predictor trains on the "
                          f"{len(store):,} of {len(videos):,} training videos extracted by then (allow more "
                          "minutes, or choose the videos with prediction_params.train_size)", stacklevel=2)
        self.num_videos = len(store)
        return KeypointWindows(store, self.params.num_frames)

    def extraction_deadline(self) -> float | None:
        """When the extraction stops: half of the time left, so that the rest trains."""
        if self.context.time_limit_at is None:
            return None
        now = time.monotonic()
        return now + EXTRACTION_SHARE * max(self.context.time_limit_at - now, 0.0)

    def extract(self, videos: list[Path], deadline: float | None) -> KeypointStore:
        store = KeypointStore()
        self.context.preparing("extracting keypoints", 0, len(videos))
        found = extract_keypoints(self.networks["kp_detector"], videos, self.frame_shape(self.config),
                                  self.context.device)
        for keypoints in found:
            store.append(keypoints)
            self.context.preparing("extracting keypoints", len(store), len(videos))
            if deadline is not None and time.monotonic() >= deadline:
                break
        return store

    def batch_size_for(self, num_items: int, batch_size: int) -> int:
        # The official loader keeps a last incomplete batch; with fewer videos than a batch it is the only one.
        return min(num_items, batch_size)

    # -- training -----------------------------------------------------------------------------------
    def initialize(self, checkpoint: dict[str, Any]) -> None:
        """The trained detector and generator (required), and a predictor to continue if it has one."""
        missing = [key for key in self.CARRIED if key not in checkpoint]
        if missing:
            raise ModelError(f"the model to train a predictor for has no {missing[0]!r} entry")
        for key, net in self.networks.items():
            if key in checkpoint:
                load_strict(net, checkpoint[key], key)

    def train_mode(self) -> None:
        for key, net in self.networks.items():
            net.train(key == "predictor")

    def train_step(self, **keypoints: Tensor) -> dict[str, float]:
        precision = self.context.precision
        with precision.autocast():
            loss = self.loss(keypoints)
        adam_step_order(loss, precision, [self.optimizers["optimizer_predictor"]])
        precision.update()
        value = float(loss.detach())
        self.epoch_losses.append(value)
        return {"prediction": value}

    def end_epoch(self) -> None:
        self.schedulers["predictor"].step(self.global_mean(statistics.fmean(self.epoch_losses)))
        self.epoch_losses = []

    def global_mean(self, value: float) -> float:
        """The mean over all processes, so that every process takes the same learning-rate decisions."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return value
        total = torch.tensor([value], dtype=torch.float64, device=self.context.device)
        torch.distributed.all_reduce(total)
        return float(total) / torch.distributed.get_world_size()

    def global_min(self, count: int) -> int:
        """The smallest ``count`` of all processes."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return count
        fewest = torch.tensor([count], dtype=torch.int64, device=self.context.device)
        torch.distributed.all_reduce(fewest, op=torch.distributed.ReduceOp.MIN)
        return int(fewest)

    def scheduler_states(self) -> dict[str, Any]:
        return {**super().scheduler_states(), "epoch_losses": list(self.epoch_losses), "videos": self.num_videos}

    def load(self, checkpoint: dict[str, Any], scheduler_states: dict[str, Any]) -> None:
        super().load(checkpoint, scheduler_states)
        self.epoch_losses = list(scheduler_states["epoch_losses"])
        self.num_videos = scheduler_states.get("videos")  # runs saved before issue 29: all the videos
