"""The OpenVINO backend: a model's per-frame graphs (see ``export.py``) compiled by OpenVINO's CPU plugin.

Its one reason to exist is bf16: on CPUs with bf16 units (``avx512_bf16``, ``amx_bf16``) OpenVINO runs the
convolutions in bf16 faster than torch's autocast does (measured 2.75× fp32 torch for FOMM vox-256 on 2 AMD EPYC
cores, against 2.05× for torch bf16; issue 26). Two facts shape it:

* OpenVINO's CPU plugin *silently* computes in bf16 on any CPU that reports bf16 units unless
  ``INFERENCE_PRECISION_HINT`` says otherwise. An fp32 run therefore pins ``f32`` (and checks that the compiled
  model reports it); tests prove its output equals torch's within float32 rounding.
* Some OpenVINO releases crashed at compile time on AMD EPYC, and GridSample imports only from opset 17–19 graphs:
  the extra pins one tested release (``TESTED_VERSION``), the graphs are exported at opset 17, and ``auto`` only
  picks a release it was tested with. Without the extra, every other backend runs as before.

The graphs are the ONNX export converted to OpenVINO IR once per weights/size/precision/OpenVINO version, in the
engine's cache; the source is encoded once per run in torch, as for onnxruntime.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from animcli.common.errors import ModelError
from animcli.inference.backends.base import Backend
from animcli.inference.export import (
    MANIFEST,
    OPENVINO_PRECISIONS,
    PER_FRAME_GRAPHS,
    PREDICTION,
    cached_export,
    import_openvino,
)
from animcli.models.base import AnimationModel, Motion
from animcli.models.graphs import StateLayout

#: the OpenVINO release the extra pins and the tests ran with (``pyproject.toml``'s ``openvino`` extra).
TESTED_VERSION = "2026.4.1"


def openvino_version() -> str | None:
    """The installed OpenVINO's release (``2026.4.1``), or None when it is not installed."""
    try:
        import openvino
    except ImportError:
        return None
    return openvino.__version__.split("-")[0]


def openvino_usable_by_auto() -> bool:
    """Whether ``--backend auto`` may choose OpenVINO: installed, and the release the extra pins."""
    return openvino_version() == TESTED_VERSION


def compile_options(precision: str, threads: int) -> dict[str, str]:
    """The CPU plugin's configuration: the precision pinned, ``threads`` intra-op threads, one stream, latency-first,
    threads not pinned to cores (decoding and encoding threads share them)."""
    return {"INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[precision], "INFERENCE_NUM_THREADS": str(threads),
            "NUM_STREAMS": "1", "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": "NO"}


class CompiledGraphs:
    """The per-frame graphs of one export directory, compiled, with one inference request each."""

    def __init__(self, directory: Any, precision: str, threads: int) -> None:
        import json

        ov = import_openvino()
        core = ov.Core()
        options = compile_options(precision, threads)
        signatures = json.loads((directory / MANIFEST).read_text())["graphs"]
        compiled = {}
        for name in PER_FRAME_GRAPHS:
            try:
                compiled[name] = core.compile_model(core.read_model(str(directory / f"{name}.xml")), "CPU", options)
            except RuntimeError as exc:
                raise ModelError(f"OpenVINO cannot compile the {name} graph in {directory}: "
                                 f"{str(exc).strip().splitlines()[0][:200]}") from None
            used = compiled[name].get_property("INFERENCE_PRECISION_HINT")
            if used != getattr(ov.Type, OPENVINO_PRECISIONS[precision]):
                raise ModelError(f"OpenVINO compiled the {name} graph for {used}, not the {precision} asked for")
        self.driving_encoder, self.renderer = (compiled[name].create_infer_request() for name in PER_FRAME_GRAPHS)
        self.driving_outputs = signatures["driving_encoder"]["outputs"]
        self.renderer_inputs = signatures["renderer"]["inputs"]
        if signatures["renderer"]["outputs"] != [PREDICTION]:  # pragma: no cover - the exporter names it
            raise ModelError(f"the renderer graph in {directory} does not output {PREDICTION!r}")


class OpenVinoBackend(Backend):
    name = "openvino"
    precisions = ("fp32", "bf16")

    def __init__(self, model: AnimationModel, device: torch.device, precision: str, *, threads: int) -> None:
        if device.type != "cpu":
            raise ModelError("the openvino backend runs on the CPU (--device cpu); on CUDA use --backend torch")
        super().__init__(model, device, precision)
        self.ov = import_openvino()
        self.threads = threads
        self._graphs: dict[int, CompiledGraphs] = {}
        self._state_feed: tuple[Any, dict[str, np.ndarray]] | None = None

    def version(self) -> str:
        return self.ov.__version__

    def graphs(self, size: int) -> CompiledGraphs:
        if size not in self._graphs:
            directory = cached_export(self.model, size, self.precision_name, backend=self.name,
                                      runtime_version=self.version())
            self._graphs[size] = CompiledGraphs(directory, self.precision_name, self.threads)
        return self._graphs[size]

    def encode_source(self, source: Tensor, size: int) -> Any:
        self.graphs(size)  # export (or check the cache) and compile before the run starts
        with self.precision():
            return self.model.encode_source(source)

    def encode_driving(self, frames: Tensor, size: int) -> Motion:
        graphs = self.graphs(size)
        results = graphs.driving_encoder.infer([_numpy(frames)])
        return {name: self._tensor(results[index]) for index, name in enumerate(graphs.driving_outputs)}

    def generate(self, source_state: Any, motion: Motion, size: int) -> Tensor:
        graphs = self.graphs(size)
        feed = {**self._source_feed(source_state), **{key: _numpy(value) for key, value in motion.items()}}
        results = graphs.renderer.infer([feed[name] for name in graphs.renderer_inputs])
        return self._tensor(results[0])

    def _source_feed(self, source_state: Any) -> dict[str, np.ndarray]:
        """The state's arrays by graph input name, converted once per source state."""
        if self._state_feed is None or self._state_feed[0] is not source_state:
            layout = StateLayout.of(source_state)
            arrays = {name: _numpy(value) for name, value in zip(layout.names(), layout.flatten(source_state),
                                                                  strict=True)}
            self._state_feed = (source_state, arrays)
        return self._state_feed[1]

    def _tensor(self, array: np.ndarray) -> Tensor:
        return torch.from_numpy(np.array(array, dtype=np.float32, copy=True)).to(self.device)


def _numpy(tensor: Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().float().cpu().numpy())
