"""Streaming, batched animation over any :class:`AnimationModel`, on any engine backend.

Driving frames are pulled from an iterator (decoded and resized in a background thread, a few frames ahead),
animated ``batch_size`` at a time and handed back as they are produced, so memory does not grow with the
video's length. Everything that depends only on the source image is computed once per run
(``encode_source``). The networks run on a backend (``animcli.engine``: torch or onnxruntime); motion
transfer runs in torch.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from animcli.common.devices import resolve_precision
from animcli.common.errors import AnimcliError
from animcli.inference.backend_choice import make_backend
from animcli.inference.batching import cap_batch_size, check_input_size, resolve_batch_size
from animcli.inference.overlap import prefetched
from animcli.inference.smoothing import Smoothing, smooth_batches
from animcli.media import resize_square
from animcli.models.base import AnimationModel, Motion, TransferOptions, motion_cat, motion_slice

#: decoded driving batches the background reader may hold ahead of the model.
PREFETCH_BATCHES = 2
#: frames of the batch that measures GPU memory per frame for ``batch_size="auto"``.
PROBE_FRAMES = 2


@dataclass
class AnimatedBatch:
    """One batch of results, all arrays (B, S, S, 3) at the model's size."""

    driving: np.ndarray  # uint8, the driving frames as the model saw them
    prediction: np.ndarray  # float32 in [0, 1]
    kp_driving: np.ndarray | None = None  # (B, K, 2) in [-1, 1], keypoint families only
    kp_transferred: np.ndarray | None = None
    pose_driving: np.ndarray | None = None  # (B, P, D) the driving pose rendered (AnimationModel.pose_vectors)
    source: np.ndarray | None = None  # (B, S, S, 3) uint8, each frame's own source (a video source) as the model saw it
    context: list[Any] | None = None  # a video source: per frame, what the caller passed along with its source frame

    @property
    def prediction_uint8(self) -> np.ndarray:
        # Round half to even, like skimage's img_as_ubyte used by the official demos.
        return np.clip(np.rint(self.prediction * 255), 0, 255).astype(np.uint8)


def batched(frames: Iterable[np.ndarray], size: int, batch_size: int) -> Iterator[np.ndarray]:
    """Group frames into (B, size, size, 3) uint8 arrays, resizing each to the model's input size."""
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(resize_square(frame, size))
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def prefetched_batches(frames: Iterable[np.ndarray], size: int, batch_size: int) -> Iterator[np.ndarray]:
    """``batched``, decoded and resized in a background thread while the model works."""
    return prefetched(batched(frames, size, batch_size), depth=PREFETCH_BATCHES)


class Animator:
    """Runs a model over a source image and a stream of driving frames."""

    def __init__(self, model: AnimationModel, options: TransferOptions | None = None, *,
                 batch_size: int | str | None = None, precision: str = "auto", size: int | None = None,
                 smoothing: Smoothing | None = None, backend: str = "torch", threads: int | None = None,
                 compile: bool = False) -> None:
        """``batch_size`` None picks the faster default for the device: batches of 8 on CUDA, where they fill
        the GPU, and single frames on CPU, where larger batches only add cache misses (measured); ``"auto"``
        sizes batches from the free GPU memory. ``precision`` is ``auto`` (fp16 on CUDA, fp32 on CPU), ``fp32``,
        ``fp16`` or ``bf16`` (refused on a CPU without bf16 units; see ``common.devices.resolve_precision``).
        ``smoothing`` filters the driving motion over time before it is transferred (``animate --smooth``).
        ``backend`` is ``torch``, ``onnxruntime``, ``openvino`` or ``auto`` (see ``backend_choice``); ``threads``
        the intra-op threads (default: the machine's cores)."""
        self.device = next(model.parameters()).device
        # NHWC convolutions are markedly faster on CPU (oneDNN) and for fp16 on tensor cores; frames arrive as
        # NHWC arrays already, so their tensors need no copy either.
        self.model = _channels_last(model.eval())
        options = options or TransferOptions(mode=model.default_mode)
        self.options = model.validate_options(options)
        self.size = check_input_size(model, size)
        self.precision = resolve_precision(self.device, precision)
        self.smoothing = smoothing
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # one input shape per run: the autotuned kernels are reused
        self.backend = make_backend(self.model, backend, self.device, self.precision, threads=threads,
                                    compile=compile, size=self.size)
        self._staging: Tensor | None = None
        self.batch_size = cap_batch_size(resolve_batch_size(batch_size, self.device, self._cuda_bytes_per_frame),
                                         self.size)

    def precision_hint(self) -> str | None:
        """For a summary line: how much faster bf16 would be, when this fp32 run was on a CPU with bf16 units."""
        from animcli.inference.hints import bf16_hint

        return bf16_hint(self.device, self.precision, self.model.family, self.size, self.backend.name)

    def _cuda_bytes_per_frame(self) -> int:
        """Peak GPU memory of animating a probe batch, per frame (an overestimate: it includes the source)."""
        probe = np.zeros((PROBE_FRAMES, self.size, self.size, 3), dtype=np.uint8)
        torch.cuda.synchronize(self.device)
        baseline = torch.cuda.memory_allocated(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        for _ in self._render(self.encode_source(probe[0]), iter([(probe, self.backend.encode_driving(
                self.to_tensor(probe), self.size))]), None, self.options):
            pass
        return -(-(torch.cuda.max_memory_allocated(self.device) - baseline) // PROBE_FRAMES)

    # -- conversions ------------------------------------------------------------------------------
    def to_tensor(self, frames: np.ndarray) -> Tensor:
        """(B, S, S, 3) uint8 → (B, 3, S, S) float32 in [0, 1] on the model's device.

        On CUDA the frames go through a reused pinned host buffer, so the copy to the GPU is asynchronous.
        """
        frames = np.ascontiguousarray(frames)
        if not frames.flags.writeable:  # torch warns on read-only memory (e.g. a camera's buffer); copy it then
            frames = frames.copy()
        host = torch.from_numpy(frames)
        if self.device.type == "cuda":
            if self._staging is None or self._staging.shape != host.shape:
                self._staging = torch.empty(host.shape, dtype=host.dtype, pin_memory=True)
            host = self._staging.copy_(host)
        tensor = host.to(self.device, non_blocking=True)
        return tensor.permute(0, 3, 1, 2).float().div_(255)

    def encode_source(self, source_image: np.ndarray) -> Any:
        return self.backend.encode_source(self.to_tensor(resize_square(source_image, self.size)[None]), self.size)

    def _motions(self, driving_frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, Motion]]:
        for frames in prefetched_batches(driving_frames, self.size, self.batch_size):
            yield frames, self.backend.encode_driving(self.to_tensor(frames), self.size)

    def _driving_motions(self, driving_frames: Iterable[np.ndarray], fps: float
                         ) -> Iterator[tuple[np.ndarray, Motion]]:
        """The motions to transfer: smoothed over time when the Animator was given ``smoothing``."""
        motions = self._motions(driving_frames)
        if self.smoothing is None:
            return motions
        return smooth_batches(motions, self.smoothing.smoother(self.model.smoothable_motion, fps))

    # -- public API -------------------------------------------------------------------------------
    def driving_motion(self, frame: np.ndarray) -> Motion:
        """The motion of one driving frame (H, W, 3) uint8 (e.g. to measure relative motion from)."""
        return next(self._motions([frame]))[1]

    def source_keypoints(self, source_image: np.ndarray) -> np.ndarray | None:
        """The source's (K, 2) keypoints in [-1, 1] (keypoint families; None for others)."""
        with self.backend.precision():
            keypoints = _numpy_or_none(self.model.keypoints(self.model.source_motion(self.encode_source(source_image))))
        return None if keypoints is None else keypoints[0]

    def find_best_frame(self, source_image: np.ndarray, driving_frames: Iterable[np.ndarray]) -> tuple[int, Motion]:
        """Index (and motion) of the driving frame whose pose is closest to the source's."""
        source_motion = self.model.source_motion(self.encode_source(source_image))
        best_index, best_distance, best_motion, offset = 0, float("inf"), None, 0
        for frames, motion in self._motions(driving_frames):
            with self.backend.precision():
                distances = self.model.pose_distance(source_motion, motion)
            i = int(torch.argmin(distances))
            # strict: the first minimum wins, as in the official demo; with only degenerate poses, the first frame.
            if best_motion is None or float(distances[i]) < best_distance:
                best_index, best_distance, best_motion = offset + i, float(distances[i]), motion_slice(motion, i)
            offset += len(frames)
        if best_motion is None:
            raise ValueError("the driving video has no frames")
        return best_index, best_motion

    def smoothed_motion_at(self, driving_frames: Iterable[np.ndarray], index: int, fps: float) -> Motion:
        """The motion of driving frame ``index`` as ``animate`` transfers it (smoothed when smoothing is on), so
        that relative motion measured from a chosen frame has no offset from that frame's own noise."""
        offset = 0
        for frames, motion in self._driving_motions(driving_frames, fps):
            if index < offset + len(frames):
                return motion_slice(motion, index - offset)
            offset += len(frames)
        raise ValueError(f"the driving video has no frame {index}")

    def animate(self, source_image: np.ndarray, driving_frames: Iterable[np.ndarray],
                initial: Motion | None = None, fps: float = 25.0) -> Iterator[AnimatedBatch]:
        """Animate ``source_image`` (H, W, 3) uint8 with the frames, yielding batches as they are ready.

        ``initial`` is the motion relative transfer is measured from; by default the first driving frame's
        (smoothed, with smoothing). ``fps`` is the driving frame rate (the causal smoother's time base).
        """
        source_state = self.encode_source(source_image)
        yield from self._render(source_state, self._driving_motions(driving_frames, fps), initial, self.options)

    def animate_many(self, source_images: Sequence[np.ndarray], driving_frames: Iterable[np.ndarray],
                     initials: Sequence[Motion | None] | None = None, fps: float = 25.0
                     ) -> Iterator[list[AnimatedBatch]]:
        """Several sources (the faces of a group photo) moved by the same driving frames: each source is encoded
        once and each driving batch once; per driving batch, one :class:`AnimatedBatch` per source, in order.
        Time and memory grow linearly with the number of sources (a source state each; a render per source and
        frame). ``initials[i]`` is source i's reference motion (None: the first driving frame's, as ``animate``).
        """
        states = [self.encode_source(image) for image in source_images]
        initials = [None] * len(states) if initials is None else list(initials)
        if len(initials) != len(states):
            raise ValueError(f"{len(initials)} reference motions for {len(states)} sources")
        first: Motion | None = None
        for frames, motion in self._driving_motions(driving_frames, fps):
            if first is None:
                first = motion_slice(motion, 0)
            yield [self.render(state, frames, motion, first if initial is None else initial)
                   for state, initial in zip(states, initials, strict=True)]

    def animate_video(self, sources: Iterable[tuple[np.ndarray, Any]], driving_frames: Iterable[np.ndarray],
                      initial: Motion | None = None, fps: float = 25.0) -> Iterator[AnimatedBatch]:
        """Video to video: source frame i (paired with a context value the batch hands back) animated by driving
        frame i, until the shorter stream ends; batches of ``batch_size`` frames.

        Each source frame is encoded once (what a still source costs once per run), so a frame costs one source
        encoding more than with a still source. The transfer is the Animator's mode with the frame's own state:
        relative is the source frame's own pose plus the driving change since ``initial`` (default: the first
        driving frame's motion), so the subject keeps its own movement and takes the driving motion on top;
        absolute is the driving pose. With smoothing, the *transferred* motion is smoothed over time — the source's
        own motion and the driving change together — and ``initial`` defaults to the first driving frame's
        smoothed motion, so a still source video gives exactly the frames of an animated still.
        """
        # Source frames are decoded, cropped and resized in a background thread, like driving frames.
        source_items = prefetched(((resize_square(image, self.size), context) for image, context in sources),
                                  depth=PREFETCH_BATCHES * self.batch_size)
        driving_items = self._frames_with_motion(driving_frames)
        try:
            yield from self._animate_pairs(zip(source_items, driving_items, strict=False), initial, fps)
        finally:  # stop both background readers now, whichever stream ended first
            source_items.close()
            driving_items.close()

    def _animate_pairs(self, pairs: Iterator[tuple[tuple[np.ndarray, Any], tuple[np.ndarray, Motion]]],
                       initial: Motion | None, fps: float) -> Iterator[AnimatedBatch]:
        smoother = None if self.smoothing is None else self.smoothing.smoother(None, fps)
        if smoother is not None and initial is None:
            pairs, initial = self._smoothed_first(pairs, fps)
        pending: collections.deque[tuple[Any, np.ndarray, np.ndarray, Any, Motion]] = collections.deque()
        done: list[AnimatedBatch] = []
        for (source, context), (frame, motion) in pairs:
            state = self.encode_source(source)
            if initial is None:
                initial = motion
            with self.backend.precision():
                transferred = self.model.transfer(state, motion, initial, self.options)
            if smoother is None:
                done.append(self._rendered(state, frame[None], motion, transferred, source, context))
            else:
                pending.append((state, frame, source, context, motion))
                for smoothed in smoother.push(transferred):
                    done.append(self._rendered_pending(pending.popleft(), smoothed))
            if len(done) >= self.batch_size:
                yield _joined(done)
                done = []
        if smoother is not None:
            for smoothed in smoother.flush():
                done.append(self._rendered_pending(pending.popleft(), smoothed))
        for start in range(0, len(done), self.batch_size):
            yield _joined(done[start:start + self.batch_size])

    def _frames_with_motion(self, driving_frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, Motion]]:
        """Each driving frame (model size) with its raw motion, encoded in batches."""
        for frames, motion in self._motions(driving_frames):
            for index, frame in enumerate(frames):
                yield frame, motion_slice(motion, index)

    def _smoothed_first(self, pairs: Iterator[Any], fps: float) -> tuple[Iterator[Any], Motion]:
        """The first driving frame's smoothed motion (``smoothed_motion_at(…, 0)``), read from the window of pairs
        it needs; the pairs are handed back whole."""
        probe = self.smoothing.smoother(self.model.smoothable_motion, fps)
        head = []
        for pair in pairs:
            head.append(pair)
            ready = probe.push(pair[1][1])
            if ready:
                return itertools.chain(head, pairs), ready[0]
        ready = probe.flush()
        if not ready:
            return iter(()), {}
        return iter(head), ready[0]

    def _rendered_pending(self, item: tuple[Any, np.ndarray, np.ndarray, Any, Motion], transferred: Motion
                          ) -> AnimatedBatch:
        state, frame, source, context, motion = item
        return self._rendered(state, frame[None], motion, transferred, source, context)

    def render_source(self, source_image: np.ndarray, variants: Sequence[TransferOptions]) -> Iterator[AnimatedBatch]:
        """The source re-rendered with its own motion under each of ``variants`` (e.g. edits of its motion),
        ``batch_size`` frames at a time; the batches' driving frames are the source itself."""
        source_state = self.encode_source(source_image)
        own_motion = self.model.source_motion(source_state)
        source_frame = resize_square(source_image, self.size)
        for start in range(0, len(variants), self.batch_size):
            chunk = [self.model.validate_options(options) for options in variants[start:start + self.batch_size]]
            with self.backend.precision():
                motions = [self.model.transfer(source_state, own_motion, own_motion, options) for options in chunk]
            prediction = self.backend.generate(source_state, motion_cat(motions), self.size)
            yield AnimatedBatch(driving=np.repeat(source_frame[None], len(chunk), axis=0),
                                prediction=_numpy_frames(prediction))

    def reconstruct(self, frames: Iterable[np.ndarray], fps: float = 25.0) -> Iterator[AnimatedBatch]:
        """The papers' reconstruction protocol: source = first frame, raw motion of every frame (smoothed, when
        the Animator smooths)."""
        motions = self._driving_motions(frames, fps)
        first_frames, first_motion = next(motions, (None, None))
        if first_frames is None:
            return
        source_state = self.encode_source(first_frames[0])
        options = self.model.reconstruction_options()
        yield from self._render(source_state, itertools.chain([(first_frames, first_motion)], motions),
                                motion_slice(first_motion, 0), options)

    def render(self, source_state: Any, frames: np.ndarray, motion: Motion, initial: Motion,
               options: TransferOptions | None = None) -> AnimatedBatch:
        """Transfer ``motion`` (of the driving ``frames``, at the model size) onto the source and generate: the
        step ``animate`` runs per batch, for callers that drive frames one by one (``animcli live``)."""
        options = options or self.options
        with self.backend.precision():
            transferred = self.model.transfer(source_state, motion, initial, options)
        return self._rendered(source_state, frames, motion, transferred)

    def _rendered(self, source_state: Any, frames: np.ndarray, motion: Motion, transferred: Motion,
                  source: np.ndarray | None = None, context: Any = None) -> AnimatedBatch:
        """Generate; ``source``/``context``: a video source's one frame (``frames`` is then that frame's driving)."""
        prediction = self.backend.generate(source_state, transferred, self.size)
        return AnimatedBatch(
            driving=frames,
            prediction=_numpy_frames(prediction),
            kp_driving=_numpy_or_none(self.model.keypoints(motion)),
            kp_transferred=_numpy_or_none(self.model.keypoints(transferred)),
            pose_driving=_numpy_or_none(self.model.pose_vectors(motion)),
            source=None if source is None else source[None],
            context=None if source is None else [context],
        )

    def pose_distance(self, source_motion: Motion, motion: Motion) -> float:
        """Distance of one frame's pose from the source's (``find_best_frame``'s criterion)."""
        with self.backend.precision():
            return float(self.model.pose_distance(source_motion, motion)[0])

    def predict(self, source_image: np.ndarray, num_frames: int | None = None,
                observed_frames: Iterable[np.ndarray] | None = None) -> Iterator[AnimatedBatch]:
        """Image-to-video: ``num_frames`` frames (default: the length the predictor was trained for) of the
        source moved by the model's predicted motion, which continues the source's own motion, or with
        ``observed_frames`` that of a clip's first frames (as many as the predictor observes)."""
        settings = self.model.prediction_settings()
        source_state = self.encode_source(source_image)
        if observed_frames is None:
            observed = self.model.source_motion(source_state)
        else:
            observed = self._observed_motion(observed_frames, settings.init_frames)
        with self.backend.precision():
            motion = self.model.predict_motion(observed, num_frames or settings.num_frames)
        # The predicted frames are all driven from the source: it stands in for the driving frames.
        shown = resize_square(source_image, self.size)
        total = len(next(iter(motion.values())))
        for start in range(0, total, self.batch_size):
            part = motion_slice(motion, slice(start, start + self.batch_size))
            count = min(self.batch_size, total - start)
            yield self._rendered(source_state, np.repeat(shown[None], count, axis=0), part, part)

    def _observed_motion(self, frames: Iterable[np.ndarray], count: int) -> Motion:
        motions = [motion for _, motion in self._motions(itertools.islice(frames, count))]
        found = sum(len(next(iter(motion.values()))) for motion in motions)
        if found < count:
            raise AnimcliError(f"the predictor continues the motion of {count} observed frames, "
                               f"but the clip has {found}")
        return motion_cat(motions)

    def _render(self, source_state: Any, motions: Iterator[tuple[np.ndarray, Motion]], initial: Motion | None,
                options: TransferOptions) -> Iterator[AnimatedBatch]:
        for frames, motion in motions:
            if initial is None:
                initial = motion_slice(motion, 0)
            yield self.render(source_state, frames, motion, initial, options)


def _channels_last(model: AnimationModel) -> AnimationModel:
    """4-D weights in NHWC order, in place (``Module.to(memory_format=...)`` refuses Monkey-Net's and LIA's 5-D
    weights)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        if tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return model


def _joined(batches: list[AnimatedBatch]) -> AnimatedBatch:
    """One-frame batches (of a video source) as one batch."""
    if len(batches) == 1:
        return batches[0]

    def stacked(name: str) -> np.ndarray | None:
        values = [getattr(batch, name) for batch in batches]
        return None if any(value is None for value in values) else np.concatenate(values)

    return AnimatedBatch(driving=stacked("driving"), prediction=stacked("prediction"),
                         kp_driving=stacked("kp_driving"), kp_transferred=stacked("kp_transferred"),
                         pose_driving=stacked("pose_driving"), source=stacked("source"),
                         context=[value for batch in batches for value in (batch.context or [None])])


def _numpy_frames(prediction: Tensor) -> np.ndarray:
    """(B, 3, S, S) results in [0, 1] → (B, S, S, 3) float32 arrays."""
    return prediction.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()


def _numpy_or_none(tensor: Tensor | None) -> np.ndarray | None:
    return None if tensor is None else tensor.detach().float().cpu().numpy()
