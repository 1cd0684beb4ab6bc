"""ONNX (and OpenVINO IR) export of a model's inference graphs, with a JSON manifest, and the export cache the
engine uses.

A directory holds ``source_encoder.onnx``, ``driving_encoder.onnx``, ``renderer.onnx`` (large models keep
their weights in external data files beside them) — or, in OpenVINO's format, ``NAME.xml`` + ``NAME.bin`` made
from those ONNX graphs — and ``manifest.json``: family, config, input size, opset, precision, the sha256 of the
checkpoint when known, the digest of the weights, and every file's size and sha256. The engine's cache keys such
directories by weights, config, size, backend, precision and the animcli/torch/runtime versions; an entry whose
manifest or files do not check out is rebuilt, never trusted.

The graphs always hold float32 weights and float32 arithmetic; a precision is what the runtime is told to compute
in. An OpenVINO IR records it as a runtime option (``INFERENCE_PRECISION_HINT``: ``f32`` for fp32, ``bf16``), but
OpenVINO 2026.4's ``compile_model`` does not apply that record by itself: whoever compiles the IR must pass the hint,
as the openvino backend does, or the CPU plugin computes in bf16 on any CPU with bf16 units.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from animcli import __version__
from animcli.common.errors import ModelError
from animcli.common.files import CACHE_ENV, cache_home, sha256_of_file, temporary_sibling  # noqa: F401 (CACHE_ENV)
from animcli.models.base import AnimationModel
from animcli.models.blocks import polyphase_upsampling
from animcli.models.graphs import InferenceGraphs

#: the ONNX opset the graphs are exported at (GridSample needs ≥ 16; OpenVINO failed to import GridSample from
#: opset ≥ 20 graphs in some releases, so it stays within 17–19).
OPSET = 17
OPENVINO_OPSETS = range(17, 20)
#: OpenVINO's name of each precision (``INFERENCE_PRECISION_HINT``).
OPENVINO_PRECISIONS = {"fp32": "f32", "bf16": "bf16"}
MANIFEST = "manifest.json"
GRAPH_NAMES = ("source_encoder", "driving_encoder", "renderer")
#: what the engine runs per frame (the source is encoded once per run, in torch).
PER_FRAME_GRAPHS = ("driving_encoder", "renderer")
PREDICTION = "prediction"
#: bumped whenever the exported graphs change for the same weights (a cache entry of an older form is rebuilt).
GRAPH_REVISION = 2


def weights_digest(model: AnimationModel) -> str:
    """sha256 over every state-dict entry's name, dtype, shape and values: the weights the graphs embed."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        values = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{values.dtype}:{tuple(values.shape)};".encode())
        digest.update(values.view(torch.uint8).numpy().data if values.numel() else b"")
    return digest.hexdigest()


def export_onnx(model: AnimationModel, size: int, directory: Path, *, graphs: tuple[str, ...] = GRAPH_NAMES,
                precision: str = "fp32", checkpoint_sha256: str | None = None,
                key: str | None = None) -> dict[str, Any]:
    """Export the model's ``graphs`` at ``size`` into ``directory`` (created) and write the manifest."""
    check_export("onnx", precision)
    size = model.check_size(size)
    directory.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about every Python-level shape computation; the graphs' shapes are checked by tests.
        warnings.simplefilter("ignore")
        # Exact rewrites that pay off in onnxruntime's kernels (not in eager torch, measured) apply while tracing.
        with polyphase_upsampling(model):
            signatures = _export_all(model.inference_graphs(size), directory, graphs)
    manifest = {
        "format": "onnx",
        "family": model.family,
        "config": model.config,
        "size": size,
        "opset": OPSET,
        "precision": precision,
        "animcli_version": __version__,
        "torch_version": torch.__version__,
        "runtime": "onnx",
        "checkpoint_sha256": checkpoint_sha256,
        "weights_sha256": weights_digest(model),
        "key": key,
        "graphs": signatures,
    }
    return _write_manifest(directory, manifest)


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    manifest["files"] = {path.name: {"bytes": path.stat().st_size, "sha256": sha256_of_file(path)}
                         for path in sorted(directory.iterdir()) if path.name != MANIFEST}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    return manifest


def check_export(graph_format: str, precision: str) -> None:
    """Refuse (one line) a format/precision pair no export can honour."""
    if graph_format == "openvino":
        import_openvino()
        if precision not in OPENVINO_PRECISIONS:
            raise ModelError(f"OpenVINO runs fp32 or bf16 on the CPU, not {precision}")
    elif precision != "fp32":
        raise ModelError(f"ONNX graphs are float32 (got --precision {precision}); bf16 is a runtime's choice: "
                         "--format openvino --precision bf16")


def export_openvino(model: AnimationModel, size: int, directory: Path, *, graphs: tuple[str, ...] = GRAPH_NAMES,
                    precision: str = "fp32", checkpoint_sha256: str | None = None,
                    key: str | None = None) -> dict[str, Any]:
    """The ONNX graphs converted to OpenVINO IR (``NAME.xml`` + ``NAME.bin``, float32 weights) with ``precision``
    recorded as the runtime option ``INFERENCE_PRECISION_HINT`` (fp32 pinned to f32), and the manifest."""
    check_export("openvino", precision)
    ov = import_openvino()
    if OPSET not in OPENVINO_OPSETS:  # pragma: no cover - guards a future change of OPSET
        raise ModelError(f"graphs for OpenVINO are exported at opset 17-19, not {OPSET}")
    onnx_dir = directory / "onnx"
    manifest = export_onnx(model, size, onnx_dir, graphs=graphs, checkpoint_sha256=checkpoint_sha256, key=key)
    for name in graphs:
        converted = ov.convert_model(str(onnx_dir / f"{name}.onnx"))
        converted.set_rt_info(OPENVINO_PRECISIONS[precision], ["runtime_options", "INFERENCE_PRECISION_HINT"])
        ov.save_model(converted, str(directory / f"{name}.xml"), compress_to_fp16=False)
    shutil.rmtree(onnx_dir)
    manifest.update(precision=precision, runtime="openvino", openvino_version=ov.__version__)
    return _write_manifest(directory, manifest)


def import_openvino() -> Any:
    """The ``openvino`` module, or a one-line ``ModelError`` saying how to install it."""
    try:
        import openvino
    except ImportError:
        raise ModelError("the OpenVINO backend needs the 'openvino' extra: pip install 'animcli[openvino]'") from None
    return openvino


def export_to_directory(model: AnimationModel, size: int, output: Path, *, checkpoint_sha256: str | None = None,
                        graph_format: str = "onnx", precision: str = "fp32") -> dict[str, Any]:
    """``export_onnx`` (or ``export_openvino``) into a new or empty directory ``output``, which appears only once
    complete."""
    if output.exists() and not (output.is_dir() and not any(output.iterdir())):
        raise ModelError(f"{output} already exists and is not an empty directory; choose another -o")
    exporter = export_openvino if graph_format == "openvino" else export_onnx
    check_export(graph_format, precision)  # before the export: a refusal should not cost one
    staging = temporary_sibling(output)
    try:
        manifest = exporter(model, size, staging, checkpoint_sha256=checkpoint_sha256, precision=precision)
        if output.exists():
            output.rmdir()
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _export_all(graphs: InferenceGraphs, directory: Path, names: tuple[str, ...]) -> dict[str, dict[str, list[str]]]:
    frames_axis = {0: "frames"}
    motion_in = list(graphs.rendered_motion_keys)
    plans = {
        "source_encoder": (graphs.source_encoder, (graphs.example_source,), ["source"], graphs.state_names, {}),
        "driving_encoder": (graphs.driving_encoder, (graphs.example_source.expand(2, -1, -1, -1),), ["frames"],
                            list(graphs.driving_motion_keys),
                            {name: frames_axis for name in ["frames", *graphs.driving_motion_keys]}),
        "renderer": (graphs.renderer, (*graphs.example_state, *graphs.example_motion),
                     [*graphs.state_names, *motion_in], [PREDICTION],
                     {name: frames_axis for name in [*motion_in, PREDICTION]}),
    }
    signatures = {}
    for name in names:
        module, args, inputs, outputs, dynamic = plans[name]
        path = directory / f"{name}.onnx"
        _export_graph(module, args, path, inputs, outputs, dynamic)
        # The exporter drops inputs the graph does not use (e.g. a source image only the torch path keeps).
        graph = onnx.load(str(path), load_external_data=False).graph
        signatures[name] = {"inputs": [value.name for value in graph.input],
                            "outputs": [value.name for value in graph.output]}
    return signatures


def _export_graph(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, inputs: list[str],
                  outputs: list[str], dynamic: dict[str, dict[int, str]]) -> None:
    try:
        # A failing export prints the whole traced graph (from C++, on file descriptor 1); users get the
        # one-line reason below instead.
        with _silenced_stdout():
            torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                              opset_version=OPSET, dynamo=False, dynamic_axes=dynamic, do_constant_folding=True)
    except OSError:  # the disk, not the model: the caller may export elsewhere
        raise
    except Exception as exc:  # the exporter raises many types; users need one line naming the graph
        raise ModelError(f"could not export the {path.stem} graph to ONNX: {str(exc).splitlines()[0][:300]}") from None


@contextlib.contextmanager
def _silenced_stdout() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def graph_file(name: str, runtime: str = "onnx") -> str:
    """The file holding graph ``name`` in an export of ``runtime`` (``onnx`` or ``openvino``)."""
    return f"{name}.xml" if runtime == "openvino" else f"{name}.onnx"


def read_manifest(directory: Path, graphs: tuple[str, ...] = GRAPH_NAMES) -> dict[str, Any] | None:
    """The manifest of an export directory when it lists ``graphs`` and every file it lists checks out, else
    None."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files = manifest["files"]
        for graph in graphs:
            if graph_file(graph, manifest.get("runtime", "onnx")) not in files:
                return None
        for name, facts in files.items():
            path = directory / name
            if path.stat().st_size != facts["bytes"] or sha256_of_file(path) != facts["sha256"]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return manifest


# -- cache --------------------------------------------------------------------------------------------
def cache_root() -> Path | None:
    """``$ANIMCLI_CACHE_DIR``, else ``$XDG_CACHE_HOME/animcli`` (``~/.cache/animcli``), + ``/engine``; None
    without a home folder."""
    home = cache_home()
    return None if home is None else home / "engine"


def cache_key(model: AnimationModel, size: int, precision: str, backend: str = "onnxruntime",
              runtime_version: str | None = None) -> str:
    """What an exported entry depends on: the weights, config and size, the backend that runs it and its version,
    the precision it runs in, the opset and graph revision, and the animcli and torch versions."""
    facts = {"weights": weights_digest(model), "config": model.config, "family": model.family, "size": size,
             "precision": precision, "backend": backend, "runtime_version": runtime_version, "opset": OPSET,
             "revision": GRAPH_REVISION, "animcli": __version__, "torch": torch.__version__}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cached_export(model: AnimationModel, size: int, precision: str = "fp32", *, backend: str = "onnxruntime",
                  runtime_version: str | None = None) -> Path:
    """The cache directory holding this model's per-frame graphs at ``size`` for ``backend`` (ONNX for
    onnxruntime, OpenVINO IR for openvino) in ``precision``, exported now when missing or invalid."""
    key = cache_key(model, size, precision, backend, runtime_version)
    exporter = export_openvino if backend == "openvino" else export_onnx
    root = cache_root()
    try:
        if root is None:
            raise OSError("no home folder to keep it in (set ANIMCLI_CACHE_DIR)")
        return _cached_entry(root / key, exporter, model, size, precision, key)
    except OSError as exc:  # a read-only, missing or full cache folder: export for this run alone
        reason = exc.strerror.lower() if exc.strerror else str(exc)
        warnings.warn(f"cannot use the engine cache {root or ''} ({reason}): the graphs are exported for this run "
                      "only (set ANIMCLI_CACHE_DIR to a writable folder to keep them)", stacklevel=2)
    scratch = Path(tempfile.mkdtemp(prefix="animcli-engine-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    exporter(model, size, scratch / key, graphs=PER_FRAME_GRAPHS, precision=precision, key=key)
    return scratch / key


def _cached_entry(entry: Path, exporter: Callable[..., dict[str, Any]], model: AnimationModel, size: int,
                  precision: str, key: str) -> Path:
    manifest = read_manifest(entry, PER_FRAME_GRAPHS) if entry.is_dir() else None
    if manifest is not None and manifest.get("key") == key:
        return entry
    shutil.rmtree(entry, ignore_errors=True)
    staging = temporary_sibling(entry)
    try:
        exporter(model, size, staging, graphs=PER_FRAME_GRAPHS, precision=precision, key=key)
        try:
            staging.rename(entry)
        except OSError:  # another process finished the same export first: theirs is as good
            if read_manifest(entry, PER_FRAME_GRAPHS) is None:
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry
