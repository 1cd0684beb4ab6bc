"""The inference engine: backends through the CLI, export, the export cache, bench, overlap and batch sizes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from animcli.cli import app
from animcli.common.errors import ModelError
from animcli.common.files import sha256_of_file
from animcli.inference import export as engine_export
from animcli.inference.backend_choice import make_backend, resolve_backend_name
from animcli.inference.backends.onnxruntime_backend import providers_for
from animcli.inference.batching import batch_size_for_memory, parse_batch_size, resolve_batch_size
from animcli.inference.export import MANIFEST, PER_FRAME_GRAPHS, cached_export, read_manifest
from animcli.inference.overlap import Background, prefetched
from animcli.media import open_video, read_image, write_image
from animcli.weights.loading import load_model
from animcli.workflows.bench import synthetic_frames

runner = CliRunner()
CPU = torch.device("cpu")
FIXTURES = {
    "fomm": ("fomm", "checkpoint.pth.tar", "config.yaml"),
    "lia": ("lia", "checkpoint.pt", "config.json"),
    "monkeynet": ("monkeynet", "checkpoint.pth.tar", "config.yaml"),
    "liax": ("liax", "checkpoint.pt", "config.json"),
}


def model_args(reference_dir: Path, family: str) -> list[str]:
    folder, checkpoint, config = FIXTURES[family]
    fixtures = reference_dir / folder / "fixtures"
    return ["--checkpoint", str(fixtures / checkpoint), "--config", str(fixtures / config)]


@pytest.fixture(scope="module")
def fomm_model(reference_dir: Path):
    fixtures = reference_dir / "fomm" / "fixtures"
    return load_model(fixtures / "checkpoint.pth.tar", fixtures / "config.yaml", device="cpu")


def write_inputs(root: Path, size: int, frames: int = 4) -> tuple[Path, Path]:
    video = synthetic_frames(frames, size)
    (root / "driving").mkdir(parents=True)
    write_image(root / "source.png", video[0])
    for i, frame in enumerate(video[1:]):
        write_image(root / "driving" / f"{i:04d}.png", frame)
    return root / "source.png", root / "driving"


# -- backends through the CLI --------------------------------------------------------------------------
@pytest.mark.parametrize("family", list(FIXTURES))
def test_cli_backends_write_the_same_frames(reference_dir: Path, tmp_path: Path, family: str) -> None:
    size = {"fomm": 128, "lia": 64, "monkeynet": 64, "liax": 64}[family]
    source, driving = write_inputs(tmp_path, size)
    written = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / backend
        result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{out}/", "--quiet",
                                     "--backend", backend, "--threads", "1", *model_args(reference_dir, family)])
        assert result.exit_code == 0, result.output
        written[backend] = np.stack([read_image(path) for path in sorted(out.glob("*.png"))])
    assert written["torch"].shape == (4, size, size, 3)
    assert np.abs(written["torch"].astype(int) - written["onnxruntime"].astype(int)).max() <= 1


@pytest.mark.slow
def test_compiled_torch_backend_writes_the_same_frames(tmp_path: Path) -> None:
    """``--compile`` (torch.compile; inductor on the CPU, ~40 s for the demo model) against eager torch."""
    source, driving = write_inputs(tmp_path, 64, frames=5)
    written = {}
    for name, flags in (("eager", []), ("compiled", ["--compile"])):
        out = tmp_path / name
        result = runner.invoke(app, ["animate", str(source), str(driving), "-o", f"{out}/", "--quiet", "--model",
                                     "demo", "--backend", "torch", "--batch-size", "2", *flags])
        assert result.exit_code == 0, result.output
        written[name] = np.stack([read_image(path) for path in sorted(out.glob("*.png"))])
    assert written["eager"].shape == (5, 64, 64, 3)
    assert np.abs(written["eager"].astype(int) - written["compiled"].astype(int)).max() <= 1


def test_eval_backends_score_alike(reference_dir: Path, shared_dir: Path) -> None:
    scores = {}
    for backend in ("torch", "onnxruntime"):
        result = runner.invoke(app, ["eval", *model_args(reference_dir, "fomm"), "--data",
                                     str(shared_dir / "datasets" / "shapes" / "test"), "--limit", "1",
                                     "--metrics", "l1", "--backend", backend, "--json", "--quiet"])
        assert result.exit_code == 0, result.output
        scores[backend] = json.loads(result.stdout)["overall"]["scores"]["l1"]
    assert scores["onnxruntime"] == pytest.approx(scores["torch"], abs=1e-5)


def test_backend_choice() -> None:
    assert resolve_backend_name("auto", CPU, "fp32") == "onnxruntime"
    assert resolve_backend_name("auto", CPU, "fp16") == "torch"
    assert resolve_backend_name("auto", torch.device("cuda"), "fp16") == "torch"
    assert resolve_backend_name("auto", torch.device("cuda"), "bf16") == "torch"
    assert resolve_backend_name("onnxruntime", torch.device("cuda"), "fp32") == "onnxruntime"
    with pytest.raises(ModelError, match="unknown backend"):
        resolve_backend_name("tensorrt", CPU, "fp32")


def test_backend_refusals_are_clear(fomm_model) -> None:
    with pytest.raises(ModelError, match="runs fp32, not fp16"):
        make_backend(fomm_model, "onnxruntime", CPU, "fp16")
    with pytest.raises(ModelError, match="--compile applies to the torch backend"):
        make_backend(fomm_model, "onnxruntime", CPU, precision="fp32", compile=True)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ModelError, match="onnxruntime-gpu"):
            providers_for(torch.device("cuda"))
    assert providers_for(CPU) == ["CPUExecutionProvider"]


def test_cli_backend_errors_are_one_line(reference_dir: Path, tmp_path: Path) -> None:
    source, driving = write_inputs(tmp_path, 128, frames=1)
    out = tmp_path / "out.mp4"
    for extra in (["--backend", "onnxruntime", "--fp16"], ["--batch-size", "many"]):
        result = runner.invoke(app, ["animate", str(source), str(driving), "-o", str(out), "--quiet",
                                     *model_args(reference_dir, "fomm"), *extra])
        assert result.exit_code == 2
        assert result.output.startswith("animcli: error:") and result.output.count("\n") == 1
        assert not out.exists()


# -- export --------------------------------------------------------------------------------------------
def test_export_writes_graphs_and_manifest_that_reproduce_torch(reference_dir: Path, fomm_model,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "export"
    args = ["export", *model_args(reference_dir, "fomm"), "--format", "onnx", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / MANIFEST).read_text())
    checkpoint = reference_dir / "fomm" / "fixtures" / "checkpoint.pth.tar"
    assert manifest["family"] == "fomm" and manifest["size"] == 128 and manifest["opset"] == 17
    assert manifest["checkpoint_sha256"] == sha256_of_file(checkpoint)
    assert manifest["config"]["model_params"]["common_params"]["num_kp"] == 10
    assert manifest["graphs"]["renderer"]["outputs"] == ["prediction"]
    assert read_manifest(out) is not None
    assert not list(tmp_path.glob(".export*"))  # no staging directory left behind

    frames = torch.from_numpy(synthetic_frames(3, 128)).permute(0, 3, 1, 2).float() / 255
    session = ort.InferenceSession(str(out / "driving_encoder.onnx"), providers=["CPUExecutionProvider"])
    value, jacobian = session.run(["value", "jacobian"], {"frames": frames.numpy()})
    with torch.inference_mode():
        expected = fomm_model.encode_driving(frames)
    assert np.abs(value - expected["value"].numpy()).max() < 1e-5
    assert np.abs(jacobian - expected["jacobian"].numpy()).max() < 1e-5

    again = runner.invoke(app, args)  # never overwrites
    assert again.exit_code == 2 and "already exists" in again.output
    assert read_manifest(out) == manifest


def test_a_graph_the_exporter_refuses_is_a_one_line_error(reference_dir: Path, tmp_path: Path,
                                                         monkeypatch) -> None:
    def refuse(*args, **kwargs) -> None:
        raise RuntimeError("Exporting the operator 'aten::linalg_qr' to ONNX opset version 17 is not supported\n"
                           "Torch IR graph at exception: graph(...)")

    monkeypatch.setattr(engine_export.torch.onnx, "export", refuse)
    out = tmp_path / "refused"
    result = runner.invoke(app, ["export", *model_args(reference_dir, "fomm"), "-o", str(out)])
    assert result.exit_code == 2
    assert result.output == ("animcli: error: could not export the source_encoder graph to ONNX: Exporting the "
                             "operator 'aten::linalg_qr' to ONNX opset version 17 is not supported\n")
    assert not out.exists() and not list(tmp_path.iterdir())  # no staging directory left behind


def test_export_needs_a_model() -> None:
    result = runner.invoke(app, ["export", "-o", "somewhere"])
    assert result.exit_code == 2 and result.output.startswith("animcli: error:")


# -- cache ---------------------------------------------------------------------------------------------
def test_cache_reuses_valid_entries_and_rebuilds_corrupt_or_stale_ones(fomm_model, tmp_path: Path,
                                                                       monkeypatch) -> None:
    monkeypatch.setenv(engine_export.CACHE_ENV, str(tmp_path))
    entry = cached_export(fomm_model, 128)
    assert entry.parent == tmp_path / "engine" and read_manifest(entry, PER_FRAME_GRAPHS)["key"] == entry.name
    assert not (entry / "source_encoder.onnx").exists()  # the engine encodes the source in torch

    exports = []
    real_export = engine_export.export_onnx
    monkeypatch.setattr(engine_export, "export_onnx", lambda *a, **k: exports.append(1) or real_export(*a, **k))
    assert cached_export(fomm_model, 128) == entry and exports == []  # hit: nothing exported

    renderer = entry / "renderer.onnx"
    renderer.write_bytes(renderer.read_bytes()[:1000])  # truncated: must not be trusted
    assert cached_export(fomm_model, 128) == entry and exports == [1]
    assert read_manifest(entry, PER_FRAME_GRAPHS) is not None

    manifest = json.loads((entry / MANIFEST).read_text())
    (entry / MANIFEST).write_text(json.dumps({**manifest, "key": "another"}))  # stale
    cached_export(fomm_model, 128)
    assert exports == [1, 1] and read_manifest(entry, PER_FRAME_GRAPHS)["key"] == entry.name

    assert cached_export(fomm_model, 256).name != entry.name  # the size is part of the key


# -- bench ---------------------------------------------------------------------------------------------
def test_bench_subprocess_reports_both_paths(reference_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "animcli", "bench", *model_args(reference_dir, "lia"),
                           "--frames", "2", "--threads", "1", "--json"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["family"] == "lia" and report["backend"] == "onnxruntime" and report["precision"] == "fp32"
    for path in ("official", "engine"):
        assert report[path]["frames"] == 2 and report[path]["fps"] > 0 and report[path]["peak_rss_mib"] > 0
    assert report["ratio"] == pytest.approx(report["engine"]["fps"] / report["official"]["fps"])
    assert report["max_abs_diff"] < 1e-4 and report["gflop_per_frame"] > 0


def test_bench_of_a_config_alone_uses_random_weights() -> None:
    result = runner.invoke(app, ["bench", "--config", "fomm-shapes-64", "--frames", "1", "--backend", "torch"])
    assert result.exit_code == 0, result.output
    assert "official" in result.output and "ratio (engine / official)" in result.output


# -- overlap -------------------------------------------------------------------------------------------
def test_prefetch_runs_ahead_by_a_bounded_amount_and_reraises_errors() -> None:
    produced = []

    def items():
        for i in range(100):
            produced.append(i)
            yield i
        raise OSError("disk gone")

    stream = prefetched(items(), depth=3)
    assert next(stream) == 0
    threading.Event().wait(0.3)
    assert len(produced) <= 5  # the one consumed, 3 queued, 1 waiting to be put
    assert list(range(1, 10)) == [next(stream) for _ in range(9)]
    with pytest.raises(OSError, match="disk gone"):
        list(stream)


def test_background_work_keeps_order_and_raises_its_errors() -> None:
    done = []
    with Background(done.append, depth=2) as worker:
        for i in range(20):
            worker.submit(i)
    assert done == list(range(20))

    def fail_on_three(item: int) -> None:
        if item == 3:
            raise ValueError("encoder died")

    with pytest.raises(ValueError, match="encoder died"), Background(fail_on_three, depth=1) as worker:
        for i in range(50):
            worker.submit(i)


# -- batch sizes ---------------------------------------------------------------------------------------
def test_batch_sizes() -> None:
    assert parse_batch_size("4") == 4 and parse_batch_size("auto") == "auto" and parse_batch_size(None) is None
    for bad in ("0", "-2", "lots"):
        with pytest.raises(ModelError, match="--batch-size"):
            parse_batch_size(bad)
    assert batch_size_for_memory(10 * 2**30, 2**30) == 7
    assert batch_size_for_memory(2**20, 2**30) == 1 and batch_size_for_memory(2**40, 1) == 64
    never = lambda: pytest.fail("no GPU probe on CPU")  # noqa: E731
    assert resolve_batch_size("auto", CPU, never) == 1 and resolve_batch_size(None, CPU, never) == 1
    assert resolve_batch_size(5, CPU, never) == 5


def test_long_video_streams_through_both_backends(reference_dir: Path, tmp_path: Path) -> None:
    """An mp4 through the pipeline (decode, compute and encode threads) on the default backend."""
    source, driving = write_inputs(tmp_path, 64, frames=12)
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["animate", str(source), str(driving), "-o", str(out), "--quiet",
                                 "--side-by-side", *model_args(reference_dir, "monkeynet")])
    assert result.exit_code == 0, result.output
    with open_video(out) as video:
        frames = list(video)
    assert len(frames) == 12 and frames[0].shape == (64, 192, 3)
