"""A live session: camera → newest frame → model → output, with decode, compute and output on their own threads.

The capture thread overwrites a one-frame mailbox, so compute always animates the newest frame and frames it
cannot keep up with are dropped, never queued: latency stays bounded by one frame's processing. Results go
to the output thread through a short queue (a result that finds it full is dropped too).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from animcli.common.choices import Backend, Precision
from animcli.inference.animator import Animator
from animcli.inference.smoothing import Smoothing
from animcli.media import resize, resize_square
from animcli.media.visualize import side_by_side
from animcli.models.base import AnimationModel, Motion, TransferOptions
from animcli.workflows.live.sinks import Sink
from animcli.workflows.live.sources import CapturedFrame, CaptureThread, FrameSource, LatestFrame

#: Results waiting for the output thread at most (a slow output then drops, it does not delay compute).
OUTPUT_QUEUE = 2
#: Seconds between status updates.
STATUS_INTERVAL = 0.5


@dataclass(frozen=True)
class LiveOptions:
    """What ``animcli live`` does besides the model: reference pose, cropping, composition, stopping."""

    find_best_frame: bool = False  # keep re-anchoring relative motion on the frame closest to the source's pose
    crop: bool = False  # cut the face out of every camera frame (and the source)
    paste_back: bool = False  # blend the animated face into the full-resolution source
    side_by_side: bool = False  # camera | result
    smoothing: Smoothing | None = None  # must be causal
    max_frames: int | None = None
    max_seconds: float | None = None


@dataclass
class LiveStats:
    """What happened: frames animated, camera frames dropped, latency from capture to output (seconds)."""

    frames: int = 0
    received: int = 0
    dropped: int = 0
    outputs: int = 0
    seconds: float = 0.0
    stopped_by: str = "end of input"
    backend: str = ""
    precision: str = ""
    latencies: list[float] = field(default_factory=list)

    def latency_ms(self, percentile: float) -> float | None:
        return float(np.percentile(self.latencies, percentile) * 1000) if self.latencies else None

    def rate(self, count: int) -> float:
        return count / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        p50, p95 = self.latency_ms(50), self.latency_ms(95)
        return {"frames": self.frames, "dropped": self.dropped, "received": self.received,
                "latency_ms_p50": None if p50 is None else round(p50, 1),
                "latency_ms_p95": None if p95 is None else round(p95, 1),
                "input_fps": round(self.rate(self.received), 2), "output_fps": round(self.rate(self.outputs), 2),
                "seconds": round(self.seconds, 2), "stopped_by": self.stopped_by, "backend": self.backend,
                "precision": self.precision}

    def status_line(self) -> str:
        latency = self.latency_ms(50)
        shown = "–" if latency is None else f"{latency:.0f} ms"
        return (f"live: in {self.rate(self.received):.1f} fps · out {self.rate(self.outputs):.1f} fps · "
                f"latency {shown} · dropped {self.dropped}")


class FaceFollower:
    """`--crop` on live input: the largest face's square in each frame, smoothed causally so the crop does not
    shake; the last square is kept while no face is found (the whole frame until one is)."""

    #: Faces are searched on a copy at most this wide (detection dominates the cost per frame).
    DETECTION_WIDTH = 320

    def __init__(self, size: int, fps: float) -> None:
        from animcli.crop.detectors import get_detector

        self.size = size
        self.detector = get_detector("auto")
        self.smoother = Smoothing(causal=True).smoother(None, fps)
        self.square: tuple[float, float, float] | None = None

    def crop(self, frame: np.ndarray, timestamp: float) -> np.ndarray:
        from animcli.crop import CropBox
        from animcli.crop.track import crop_subpixel

        height, width = frame.shape[:2]
        scale = min(1.0, self.DETECTION_WIDTH / width)
        small = frame if scale == 1 else resize(frame, round(width * scale), round(height * scale))
        faces = self.detector.detect(small)
        if faces:
            box = CropBox.around(max(faces, key=lambda face: face.area).scaled(1 / scale), 0.1, (width, height))
            [smoothed] = self.smoother.push({"square": torch.tensor([[box.x, box.y, box.side]], dtype=torch.float64)},
                                            timestamp)
            self.square = tuple(smoothed["square"][0].tolist())
        if self.square is None:
            return resize_square(frame, self.size)
        return crop_subpixel(frame, *self.square, self.size)


class LiveSession:
    """Animate ``source_image`` with a camera, into a sink, until the input ends or a limit is reached."""

    def __init__(self, animator: Animator, source_image: np.ndarray, camera: FrameSource,
                 options: LiveOptions = LiveOptions()) -> None:
        self.animator = animator
        self.camera = camera
        self.options = options
        self.recapture_requested = threading.Event()
        self.finish: Callable[[np.ndarray], np.ndarray] | None = None
        source = source_image
        if options.crop or options.paste_back:
            from animcli.crop import crop_source_image, paste_back

            source, box = crop_source_image(source_image, size=animator.size)
            if options.paste_back:
                self.finish = lambda prediction: paste_back(source_image, prediction, box)
        self.source = resize_square(source, animator.size)
        self.source_state = animator.encode_source(self.source)
        self.source_motion = animator.model.source_motion(self.source_state) if options.find_best_frame else None
        self.follower = FaceFollower(animator.size, camera.fps) if options.crop else None
        self.smoother = (options.smoothing.smoother(animator.model.smoothable_motion, camera.fps)
                         if options.smoothing else None)
        self.initial: Motion | None = None
        self.best_distance = float("inf")
        self.output_error: Exception | None = None

    def output_size(self) -> tuple[int, int]:
        """(width, height) of the frames the sink receives."""
        height, width = self.compose(self.source, self.source).shape[:2]
        return width, height

    def recapture(self) -> None:
        """Take the next frame's pose as the reference for relative motion (SIGUSR1, a key in the window)."""
        self.recapture_requested.set()

    # -- per frame --------------------------------------------------------------------------------------
    def driving_frame(self, captured: CapturedFrame) -> np.ndarray:
        if self.follower is not None:
            return self.follower.crop(captured.image, captured.captured_at)
        return resize_square(captured.image, self.animator.size)

    def reference(self, motion: Motion) -> Motion:
        """The motion relative transfer is measured from: the first frame's, the closest to the source pose so
        far (``find_best_frame``), or the current one when a re-capture was asked for."""
        recapture = self.recapture_requested.is_set()
        self.recapture_requested.clear()
        distance = (self.animator.pose_distance(self.source_motion, motion) if self.source_motion is not None
                    else 0.0)
        if self.initial is None or recapture or distance < self.best_distance:
            self.initial, self.best_distance = motion, distance
        return self.initial

    def animate(self, captured: CapturedFrame) -> tuple[np.ndarray, np.ndarray]:
        """The driving frame as the model saw it and the result for it (uint8)."""
        driving = self.driving_frame(captured)
        motion = self.animator.driving_motion(driving)
        if self.smoother is not None:
            [motion] = self.smoother.push(motion, captured.captured_at)
        batch = self.animator.render(self.source_state, driving[None], motion, self.reference(motion))
        return driving, batch.prediction_uint8[0]

    def compose(self, driving: np.ndarray, prediction: np.ndarray) -> np.ndarray:
        result = self.finish(prediction) if self.finish is not None else prediction
        return side_by_side(driving, result) if self.options.side_by_side else result

    # -- the loop -----------------------------------------------------------------------------------------
    def run(self, sink: Sink, on_status: Callable[[LiveStats], None] | None = None) -> LiveStats:
        """Run until the input ends, a limit is reached, the window asks to quit or Ctrl-C; the sink is closed
        (a file finalised) in every case but an error, where it is aborted."""
        stats = LiveStats(backend=self.animator.backend.name, precision=self.animator.precision)
        mailbox = LatestFrame()
        capture = CaptureThread(self.camera, mailbox)
        results: queue.Queue[tuple[np.ndarray, CapturedFrame] | None] = queue.Queue(OUTPUT_QUEUE)
        output = threading.Thread(target=self._output, args=(sink, results, stats), name="animcli-output",
                                  daemon=True)
        start = time.monotonic()
        last_status = start
        completed = False
        with self._recapture_on_sigusr1(), self._cpu_threads():
            capture.start()
            output.start()
            try:
                while True:
                    stats.seconds = time.monotonic() - start
                    stop = self._stop_reason(stats, sink)
                    if stop:
                        stats.stopped_by = stop
                        break
                    try:
                        captured = mailbox.take(timeout=0.1)
                    except EOFError:
                        break
                    if captured is None:
                        continue
                    driving, prediction = self.animate(captured)
                    stats.frames += 1
                    with contextlib.suppress(queue.Full):
                        results.put_nowait((self.compose(driving, prediction), captured))
                    if on_status is not None and time.monotonic() - last_status >= STATUS_INTERVAL:
                        last_status = time.monotonic()
                        on_status(self._counts(stats, mailbox))
                completed = True
            except KeyboardInterrupt:
                stats.stopped_by = "interrupt"
                completed = True
            finally:
                capture.stopping.set()
                results.put(None)
                output.join()
                capture.join(timeout=5)
                self.camera.close()
                stats.seconds = time.monotonic() - start
                self._counts(stats, mailbox)
                (sink.close if completed else sink.abort)()
        for error in (capture.error, self.output_error):
            if error is not None:
                raise error
        return stats

    def _stop_reason(self, stats: LiveStats, sink: Sink) -> str | None:
        if self.output_error is not None:
            raise self.output_error
        if self.options.max_frames is not None and stats.frames >= self.options.max_frames:
            return "max frames"
        if self.options.max_seconds is not None and stats.seconds >= self.options.max_seconds:
            return "max seconds"
        if sink.quit_requested:
            return "window closed"
        if sink.recapture_requested:
            sink.recapture_requested = False
            self.recapture()
        return None

    @staticmethod
    def _counts(stats: LiveStats, mailbox: LatestFrame) -> LiveStats:
        # Frames still in the mailbox when the session ends were never animated either.
        stats.received = mailbox.received
        stats.dropped = stats.received - stats.frames
        return stats

    def _output(self, sink: Sink, results: queue.Queue, stats: LiveStats) -> None:
        """Send results as they come; after an error (e.g. the stdout reader went away), keep emptying the queue
        so compute never blocks, and leave the error for the main thread."""
        while (item := results.get()) is not None:
            if self.output_error is not None:
                continue
            frame, captured = item
            try:
                sink.send(frame, captured.index)
            except Exception as exc:
                self.output_error = exc
                continue
            stats.outputs += 1
            stats.latencies.append(time.monotonic() - captured.captured_at)

    @contextlib.contextmanager
    def _cpu_threads(self) -> Iterator[None]:
        """torch's intra-op threads as :func:`live_threads` says for the session, restored afterwards."""
        threads = torch.get_num_threads()
        torch.set_num_threads(live_threads(self.animator.device) or threads)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    @contextlib.contextmanager
    def _recapture_on_sigusr1(self) -> Iterator[None]:
        """SIGUSR1 re-captures the reference pose (only the main thread can install handlers)."""
        if not hasattr(signal, "SIGUSR1") or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGUSR1, lambda *_: self.recapture())
        try:
            yield
        finally:
            signal.signal(signal.SIGUSR1, previous)


def live_threads(device: torch.device) -> int | None:
    """Intra-op threads for live work: on CPU, one core is left to decoding and output, because an intra-op
    thread that waits for a busy core stalls the whole frame (measured on a loaded 2-core machine: 0.5 fps with 2
    threads, 17 fps with 1); None (the backend's default) elsewhere."""
    if device.type != "cpu":
        return None
    return max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) - 1))


def live_animator(model: AnimationModel, options: TransferOptions | None = None, *, precision: Precision = "auto",
                  size: int | None = None, backend: Backend = "auto", threads: int | None = None) -> Animator:
    """The Animator a live session runs: one frame per pass, and (unless ``threads`` says otherwise) the intra-op
    threads of :func:`live_threads`."""
    device = next(model.parameters()).device
    return Animator(model, options, batch_size=1, precision=precision, size=size, backend=backend,
                    threads=threads or live_threads(device))
