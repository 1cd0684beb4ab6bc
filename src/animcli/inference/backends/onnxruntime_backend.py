"""The onnxruntime backend: a model's per-frame graphs (see ``export.py``) run by onnxruntime.

onnxruntime applies the exact graph transforms itself at session creation: BatchNorm folded into the
convolutions, activations fused into them, blocked NCHWc layouts for its AVX-512/AVX2 kernels, constant
folding, and outputs nobody reads removed. The driving encoder and the renderer are exported once per
weights/size into the cache; the source is encoded once per run, in torch (not per-frame work, and it may
hold weight-only steps, like a QR of a motion dictionary, that ONNX has no operator for).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from torch import Tensor

from animcli.common.errors import ModelError
from animcli.inference.backends.base import Backend
from animcli.inference.export import PER_FRAME_GRAPHS, PREDICTION, cached_export
from animcli.models.base import AnimationModel, Motion
from animcli.models.graphs import StateLayout

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Spinning workers only pay off when nothing else wants the cores; decode and encode threads do.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def providers_for(device: torch.device) -> list[Any]:
    if device.type == "cpu":
        return [CPU_PROVIDER]
    if CUDA_PROVIDER not in ort.get_available_providers():
        raise ModelError("--backend onnxruntime on CUDA needs onnxruntime's CUDA provider (pip install "
                         "onnxruntime-gpu); use --backend torch")
    return [(CUDA_PROVIDER, {"device_id": device.index or 0, "cudnn_conv_algo_search": "EXHAUSTIVE"}), CPU_PROVIDER]


class GraphSessions:
    """The per-frame sessions of one export directory."""

    def __init__(self, directory: Path, threads: int, providers: list[Any]) -> None:
        options = session_options(threads)
        try:
            self.driving_encoder, self.renderer = (
                ort.InferenceSession(str(directory / f"{name}.onnx"), options, providers=providers)
                for name in PER_FRAME_GRAPHS)
        except (ort.capi.onnxruntime_pybind11_state.Fail, RuntimeError) as exc:
            raise ModelError(f"onnxruntime cannot load the exported graphs in {directory}: "
                             f"{str(exc).splitlines()[0][:200]}") from None
        self.renderer_inputs = [value.name for value in self.renderer.get_inputs()]
        self.driving_outputs = [value.name for value in self.driving_encoder.get_outputs()]


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, model: AnimationModel, device: torch.device, precision: str, *, threads: int) -> None:
        # onnxruntime has no bf16 or fp16 compute on x86 CPUs: float32 only (the base class refuses the others).
        super().__init__(model, device, precision)
        self.threads = threads
        self.providers = providers_for(device)
        self._sessions: dict[int, GraphSessions] = {}
        self._state_feed: tuple[Any, dict[str, np.ndarray]] | None = None

    def sessions(self, size: int) -> GraphSessions:
        if size not in self._sessions:
            directory = cached_export(self.model, size, self.precision_name, backend=self.name,
                                      runtime_version=self.version())
            self._sessions[size] = GraphSessions(directory, self.threads, self.providers)
        return self._sessions[size]

    def version(self) -> str:
        return ort.__version__

    def encode_source(self, source: Tensor, size: int) -> Any:
        self.sessions(size)  # export (or check the cache) before the run starts
        with self.precision():
            return self.model.encode_source(source)

    def encode_driving(self, frames: Tensor, size: int) -> Motion:
        sessions = self.sessions(size)
        outputs = sessions.driving_encoder.run(None, {"frames": _numpy(frames)})
        return {name: self._tensor(value) for name, value in zip(sessions.driving_outputs, outputs, strict=True)}

    def generate(self, source_state: Any, motion: Motion, size: int) -> Tensor:
        sessions = self.sessions(size)
        feed = {**self._source_feed(source_state), **{key: _numpy(value) for key, value in motion.items()}}
        (prediction,) = sessions.renderer.run([PREDICTION], {name: feed[name] for name in sessions.renderer_inputs})
        return self._tensor(prediction)

    def _source_feed(self, source_state: Any) -> dict[str, np.ndarray]:
        """The state's arrays by graph input name, converted once per source state."""
        if self._state_feed is None or self._state_feed[0] is not source_state:
            layout = StateLayout.of(source_state)
            arrays = {name: _numpy(value) for name, value in zip(layout.names(), layout.flatten(source_state),
                                                                  strict=True)}
            self._state_feed = (source_state, arrays)
        return self._state_feed[1]

    def _tensor(self, array: np.ndarray) -> Tensor:
        return torch.from_numpy(array).to(self.device)


def _numpy(tensor: Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().float().cpu().numpy())
