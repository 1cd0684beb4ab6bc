"""Reconstruction metrics as small pluggable classes.

Every metric compares a generated frame with its ground-truth frame and yields one value per frame (or
``None`` where it is undefined, e.g. no face in the ground truth); the reported number is the mean of the
defined per-frame values, as in the papers' evaluation scripts (see EVAL-PROTOCOL in the README).

Metrics that need more than pixels get their per-frame features from a :class:`Backend` (face landmarks,
face identity…). Features are computed once per frame batch and shared by every metric using that backend
(AKD and MKR both read the same landmarks). A body-pose backend only has to return keypoints with NaN rows
for joints it did not find: :class:`AKD` and :class:`MKR` already average over joints present in both
frames and count joints lost by the generator.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from animcli.common.errors import AnimcliError
from animcli.crop import faces


class FrameBatch:
    """A batch of RGB frames (B, H, W, 3) float32 in [0, 1] with the backend features computed on them, and
    for frames a model generated, the driving pose they were rendered from (``AnimationModel.pose_vectors``)."""

    def __init__(self, frames: np.ndarray, pose: np.ndarray | None = None) -> None:
        self.frames = frames
        self.pose = pose
        self._features: dict[Backend, list[Any]] = {}

    def __len__(self) -> int:
        return len(self.frames)

    @functools.cached_property
    def uint8(self) -> np.ndarray:
        # Rounded like img_as_ubyte: the frames that detectors see are exactly the PNGs `--out` writes.
        return np.rint(np.clip(self.frames, 0.0, 1.0) * 255.0).astype(np.uint8)

    def features(self, backend: Backend) -> list[Any]:
        if backend not in self._features:
            self._features[backend] = backend.extract(self)
        return self._features[backend]


class Backend(ABC):
    """Extracts per-frame features (keypoints, identity embeddings) that metrics compare."""

    #: what the backend looks for in a frame, for messages ("no frame with a face found …")
    finds = "its features"

    @abstractmethod
    def unavailable_reason(self) -> str | None:
        """Why this backend cannot run here (missing package or weights), or None when it can."""

    @abstractmethod
    def extract(self, batch: FrameBatch) -> list[Any]:
        """One feature per frame of the batch."""


class FaceDetector(Backend):
    """dlib's 68-point shape (same point convention as the papers' face-alignment network) of the first
    detected face of each frame, or None where no face is found."""

    finds = "a face"

    def unavailable_reason(self) -> str | None:
        return faces.missing_reason(faces.LANDMARKS_FILE)

    def extract(self, batch: FrameBatch) -> list[Any | None]:
        return [faces.first_face_shape(image) for image in batch.uint8]


class FaceLandmarks(Backend):
    """The 68 landmarks as a (68, 2) array of pixel (x, y); all NaN when no face is found."""

    num_keypoints = 68
    finds = "a face"

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector

    def unavailable_reason(self) -> str | None:
        return self.detector.unavailable_reason()

    def extract(self, batch: FrameBatch) -> list[np.ndarray]:
        return [self._landmarks(shape) for shape in batch.features(self.detector)]

    def _landmarks(self, shape: Any | None) -> np.ndarray:
        if shape is None:
            return np.full((self.num_keypoints, 2), np.nan)
        return np.array([[point.x, point.y] for point in shape.parts()], dtype=np.float64)


class FaceIdentity(Backend):
    """dlib's 128-d face-recognition embedding of the detected face (None when no face is found).

    The papers used OpenFace on the whole frame at 96×96; dlib aligns the detected face with its 68
    landmarks instead, so AED values are comparable in kind, not in scale, with the papers' tables.
    """

    recognition_file = "dlib_face_recognition_resnet_model_v1.dat"
    finds = "a face"

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector

    def unavailable_reason(self) -> str | None:
        return self.detector.unavailable_reason() or faces.missing_reason(self.recognition_file)

    def extract(self, batch: FrameBatch) -> list[np.ndarray | None]:
        model = faces.dlib_model("face_recognition_model_v1", self.recognition_file)
        return [
            None if shape is None else np.array(model.compute_face_descriptor(image, shape))
            for image, shape in zip(batch.uint8, batch.features(self.detector), strict=True)
        ]


@dataclass
class RunningMean:
    """Mean of the defined per-frame values, accumulated without keeping them (videos can be long)."""

    total: float = 0.0
    count: int = 0

    def add(self, values: list[float | None]) -> None:
        defined = [value for value in values if value is not None]
        self.total += math.fsum(defined)
        self.count += len(defined)

    def merge(self, other: RunningMean) -> None:
        self.total += other.total
        self.count += other.count

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass
class Metric(ABC):
    """One reconstruction metric: per-frame values of (generated, ground truth) pairs, averaged."""

    name: str
    title: str
    description: str
    backend: Backend | None = field(default=None, repr=False)

    def unavailable_reason(self) -> str | None:
        return self.backend.unavailable_reason() if self.backend is not None else None

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def new_video(self) -> None:  # noqa: B027 - a hook: per-frame metrics keep no state between videos
        """Called before a video's first frames: metrics over time start afresh."""

    @abstractmethod
    def frame_values(self, generated: FrameBatch, ground_truth: FrameBatch) -> list[float | None]:
        """One value per frame; None where the metric is undefined for that frame."""

    def unscored_reason(self) -> str:
        """Why a video (or the whole set) has no score: no frame where the metric was defined."""
        finds = self.backend.finds if self.backend is not None else "its input"
        return f"no frame with {finds} found in both the original and the reconstruction"

    def _feature_pairs(self, generated: FrameBatch, ground_truth: FrameBatch) -> zip:
        assert self.backend is not None
        return zip(generated.features(self.backend), ground_truth.features(self.backend), strict=True)


class L1(Metric):
    def __init__(self) -> None:
        super().__init__("l1", "L1", "mean |generated − original| over pixels and channels, values in [0, 1]")

    def frame_values(self, generated: FrameBatch, ground_truth: FrameBatch) -> list[float | None]:
        difference = np.abs(generated.frames.astype(np.float32) - ground_truth.frames.astype(np.float32))
        return difference.reshape(len(difference), -1).mean(axis=1, dtype=np.float64).tolist()


class AKD(Metric):
    """Average keypoint distance: mean of |Δx| and |Δy| over the keypoints found in both frames (pixels).

    This is the pose-evaluation scripts' arithmetic (a mean over both coordinates, not a Euclidean
    distance): a pure horizontal shift of k pixels scores k/2.
    """

    def __init__(self, keypoints: Backend, name: str = "akd", title: str = "AKD") -> None:
        super().__init__(name, title, "mean |Δx|, |Δy| of keypoints found in both frames, pixels", keypoints)

    def frame_values(self, generated: FrameBatch, ground_truth: FrameBatch) -> list[float | None]:
        values: list[float | None] = []
        for kp_generated, kp_original in self._feature_pairs(generated, ground_truth):
            both = ~np.isnan(kp_generated).any(axis=1) & ~np.isnan(kp_original).any(axis=1)
            distance = np.abs(kp_generated[both] - kp_original[both])
            values.append(float(distance.mean()) if both.any() else None)
        return values


class MKR(Metric):
    """Missing-keypoint rate: fraction of the keypoints found in the original that the detector cannot find
    in the generated frame (for faces: 1 when the face is lost, 0 when found); undefined without any."""

    def __init__(self, keypoints: Backend, name: str = "mkr", title: str = "MKR") -> None:
        super().__init__(name, title, "share of the original's keypoints missing in the reconstruction (faces are "
                         "found or lost whole: the share of frames with a face in the original but none in the "
                         "reconstruction)", keypoints)

    def unscored_reason(self) -> str:
        assert self.backend is not None
        return f"no original frame with {self.backend.finds} found"

    def frame_values(self, generated: FrameBatch, ground_truth: FrameBatch) -> list[float | None]:
        values: list[float | None] = []
        for kp_generated, kp_original in self._feature_pairs(generated, ground_truth):
            found_original = ~np.isnan(kp_original).any(axis=1)
            lost = found_original & np.isnan(kp_generated).any(axis=1)
            values.append(float(lost.sum() / found_original.sum()) if found_original.any() else None)
        return values


class AED(Metric):
    """Average euclidean distance of identity embeddings, computed the way the papers' tables were: the mean
    of absolute element-wise differences (despite the name). ``squared=True`` gives the sum of squared
    differences that one later version of the scripts used."""

    def __init__(self, identity: Backend, squared: bool = False) -> None:
        if squared:
            super().__init__("aed-ssd", "AED-SSD", "sum of squared differences of face embeddings", identity)
        else:
            super().__init__("aed", "AED", "mean |Δ| of 128-d face-identity embeddings", identity)
        self.squared = squared

    def frame_values(self, generated: FrameBatch, ground_truth: FrameBatch) -> list[float | None]:
        return [self._distance(id_generated, id_original)
                for id_generated, id_original in self._feature_pairs(generated, ground_truth)]

    def _distance(self, id_generated: np.ndarray | None, id_original: np.ndarray | None) -> float | None:
        if id_generated is None or id_original is None:
            return None
        difference = id_generated - id_original
        return float(np.square(difference).sum() if self.squared else np.abs(difference).mean())


class SecondDifference:
    """|x_t − 2·x_{t−1} + x_{t−2}| frame by frame over a stream of batches (the last two values carry over)."""

    def __init__(self) -> None:
        self.previous: np.ndarray | None = None

    def reset(self) -> None:
        self.previous = None

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """Second differences (N', ...) ending at each of the batch's frames that has two predecessors."""
        history = values if self.previous is None else np.concatenate([self.previous, values])
        self.previous = history[-2:]
        return history[2:] - 2 * history[1:-1] + history[:-2]


class Jitter(Metric):
    """Mean magnitude of the second temporal difference: what shakes from frame to frame, where steady motion
    (constant velocity) scores 0. Undefined for a video's first two frames."""

    def __init__(self, name: str, title: str, description: str) -> None:
        super().__init__(name, title, description)
        self.second_difference = SecondDifference()

    def new_video(self) -> None:
        self.second_difference.reset()

    def frame_values(self, generated: FrameBatch, ground_truth: FrameBatch) -> list[float | None]:
        values = self.signal(generated)
        if values is None:
            return [None] * len(generated)
        magnitudes = [self.magnitude(difference) for difference in self.second_difference(values)]
        return [None] * (len(generated) - len(magnitudes)) + magnitudes

    @abstractmethod
    def signal(self, generated: FrameBatch) -> np.ndarray | None:
        """The per-frame values whose jitter is measured, or None when they are not known."""

    @abstractmethod
    def magnitude(self, difference: np.ndarray) -> float:
        """The size of one frame's second difference."""


class MotionJitter(Jitter):
    """Jitter of the driving pose a model rendered: its keypoints ([-1, 1] image coordinates: × size/2 for
    pixels) or motion code (LIA: α); mean over keypoints of the Euclidean norm. Needs a model (not --pred)."""

    def __init__(self) -> None:
        super().__init__("jitter-motion", "jitter (motion)",
                         "mean |2nd temporal difference| of the model's driving keypoints or motion code")

    def signal(self, generated: FrameBatch) -> np.ndarray | None:
        return None if generated.pose is None else generated.pose.astype(np.float64)

    def magnitude(self, difference: np.ndarray) -> float:
        return float(np.linalg.norm(difference, axis=-1).mean())


class FrameJitter(Jitter):
    """Jitter of the output frames: mean |2nd temporal difference| over pixels and channels, in [0, 1] units."""

    def __init__(self) -> None:
        super().__init__("jitter-frames", "jitter (frames)", "mean |2nd temporal difference| of the output pixels")

    def signal(self, generated: FrameBatch) -> np.ndarray:
        return generated.frames.astype(np.float32)

    def magnitude(self, difference: np.ndarray) -> float:
        return float(np.abs(difference).mean(dtype=np.float64))


#: Metrics the papers report whose backbones (AlexNet/Inception weights) are not installable offline.
#: They are listed with the reason instead of being approximated.
UNAVAILABLE_METRICS = {
    "lpips": "needs AlexNet + LPIPS v0.1 weights, which no installable package ships; not computed",
    "fid": "needs Inception weights, which no installable package ships; not computed",
}

DEFAULT_METRICS = ("l1", "akd", "aed", "mkr")
#: Names that select several metrics at once.
METRIC_GROUPS = {"jitter": ("jitter-motion", "jitter-frames")}


def builtin_metrics() -> dict[str, Metric]:
    """A fresh set of metric objects; metrics that share a backend share its per-frame features."""
    detector = FaceDetector()
    landmarks = FaceLandmarks(detector)
    identity = FaceIdentity(detector)
    metrics: list[Metric] = [L1(), AKD(landmarks), AED(identity), AED(identity, squared=True), MKR(landmarks),
                             MotionJitter(), FrameJitter()]
    return {metric.name: metric for metric in metrics}


def select_metrics(names: list[str] | None = None) -> tuple[list[Metric], dict[str, str]]:
    """The metrics to compute and the unavailable ones with their reasons.

    The default set (``names=None``) computes what it can and lists the rest as unavailable; a metric
    requested by name that cannot run is an error, never silently skipped.
    """
    registry = builtin_metrics()
    if names is not None and not names:
        known = ", ".join([*registry, *METRIC_GROUPS, *UNAVAILABLE_METRICS])
        raise AnimcliError(f"--metrics names no metric (known: {known})")
    if names is None:
        requested = [*DEFAULT_METRICS, *UNAVAILABLE_METRICS]
    else:
        requested = list(dict.fromkeys(part for name in names for part in METRIC_GROUPS.get(name, (name,))))
    selected: list[Metric] = []
    unavailable: dict[str, str] = {}
    for name in requested:
        if name in UNAVAILABLE_METRICS:
            reason = UNAVAILABLE_METRICS[name]
        elif name in registry:
            reason = registry[name].unavailable_reason()
        else:
            known = ", ".join([*registry, *METRIC_GROUPS, *UNAVAILABLE_METRICS])
            raise AnimcliError(f"unknown metric {name!r} (known: {known})")
        if reason is None:
            selected.append(registry[name])
        elif names is not None:
            raise AnimcliError(f"metric {name} is unavailable: {reason}")
        else:
            unavailable[name] = reason
    return selected, unavailable
