"""Hostile input through the CLI, round 3 (issue 28): each class of the sweep's failures, worst first. Every failure
is one `animcli: error:` line with its documented exit code, and no input is touched. Signals and pipes are in
`test_faults.py` (real processes)."""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import invoke, moving_square, write_moving_square
from safetensors.torch import load_file, save_file

from animcli.common.files import FolderLock
from animcli.media import write_image, write_video
from animcli.models.configs import checkpoints_dir, resolve_config

DEMO = ["--model", "demo", "--device", "cpu", "--quiet"]


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    return write_moving_square(tmp_path, 6)


def one_line_error(result, code: int, fragment: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = [line for line in result.output.splitlines() if line.startswith("animcli: error:")]
    assert len(lines) == 1 and fragment in lines[0], result.output
    assert "Traceback" not in result.output


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- A: batch and eval never touch an input; one train run per folder ------------------------------------------

@pytest.mark.parametrize(("output", "fragment"), [
    ("driving.mp4", "output driving.mp4 is its own driving"),
    ("other.mp4", "output other.mp4 is line 2's driving"),
    ("", "output is empty"),
    (".", "holds"),
    ("jobs.jsonl", "is the manifest"),
    ("link.mp4", "is its own driving"),
])
@pytest.mark.parametrize("overwrite", [False, True])
def test_batch_outputs_are_checked_against_every_input_before_anything_runs(
        inputs, tmp_path: Path, monkeypatch, output: str, fragment: str, overwrite: bool) -> None:
    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / "other.mp4", moving_square(6), fps=10)
    (tmp_path / "link.mp4").symlink_to("driving.mp4")
    jobs = [{"source": "source.png", "driving": "driving.mp4", "output": output, "model": "demo"},
            {"source": "source.png", "driving": "other.mp4", "output": "fine.mp4", "model": "demo"}]
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(job) + "\n" for job in jobs))
    before = snapshot(tmp_path)
    result = invoke("batch", "jobs.jsonl", "-q", *(["--overwrite"] if overwrite else []))
    one_line_error(result, 2, fragment)
    assert "jobs.jsonl:1:" in result.output
    assert snapshot(tmp_path) == before  # nothing ran: not "skipped", not replaced


def test_batch_jobs_run_inside_the_input_protection(inputs, tmp_path: Path) -> None:
    """A job whose output is (a hard link to) its own input is refused by the worker too, not only up front."""
    from animcli.jobs.manifest import Job
    from animcli.workflows.request import AnimateRequest, ModelCache

    link = tmp_path / "hard.mp4"
    link.hardlink_to(inputs[1])
    job = Job(1, AnimateRequest(source=inputs[0], driving=str(inputs[1]), output=str(link), model="demo",
                                device="cpu", overwrite=True))
    with pytest.raises(Exception, match="is an input of this run"):
        job.run(ModelCache())
    assert link.read_bytes() == inputs[1].read_bytes()


def test_eval_and_train_refuse_an_output_inside_their_data(inputs, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_video(data / "clip.mp4", moving_square(6), fps=10)
    before = snapshot(data)
    one_line_error(invoke("eval", "--data", data, "--out", data / "report", *DEMO), 2, "is inside --data")
    one_line_error(invoke("eval", "--pred", data, "--gt", data, "--out", data, "-q"), 2, "is inside --pred")
    one_line_error(invoke("train", "--model", "fomm", "--config", "fomm-demo-64", "--data", data, "--out",
                          data / "run", "--perceptual", "none", "--device", "cpu", "-q"), 2, "is inside --data")
    assert snapshot(data) == before


def test_a_second_training_run_into_the_same_folder_is_refused(tmp_path: Path) -> None:
    from test_train_tiny import tiny_dataset, tiny_fomm_config, write_config

    data = tiny_dataset(tmp_path / "data")
    config = write_config(tiny_fomm_config(), tmp_path / "tiny.yaml")
    run = tmp_path / "run"
    common = ["--model", "fomm", "--data", data, "--out", run, "--perceptual", "none", "--device", "cpu", "-q"]
    result = invoke("train", *common, "--config", config, "--max-minutes", "0")
    assert result.exit_code == 0, result.output
    assert "no checkpoint was written" in result.output and not (run / "last.pth.tar").exists()  # B: no false claim
    lock = FolderLock(run, "animcli train (the test)")
    lock.acquire()  # the first run, still going
    try:
        one_line_error(invoke("train", *common, "--config", config, "--max-steps", "1"), 2,
                       "in use by animcli train (the test) (pid")
    finally:
        lock.release()
    stale = run / ".last.pth.partial-0badc0de.tar"  # a save killed by SIGKILL
    stale.write_bytes(b"half a checkpoint")
    result = invoke("train", *common, "--config", config, "--max-steps", "1")
    assert result.exit_code == 0, result.output
    assert not stale.exists() and (run / "last.pth.tar").is_file()


# -- B: damaged videos, broken weights, altered downloads are named -------------------------------------------

@pytest.fixture
def damaged(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    clip = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(60)]
    write_video(tmp_path / "ok.mp4", clip, fps=25)
    data = (tmp_path / "ok.mp4").read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[:len(data) // 2])
    corrupt = bytearray(data)
    middle = len(corrupt) // 2
    corrupt[middle:middle + 3000] = bytes((b * 7 + 13) % 256 for b in corrupt[middle:middle + 3000])
    (tmp_path / "corrupt.mp4").write_bytes(bytes(corrupt))
    return {name: tmp_path / f"{name}.mp4" for name in ("ok", "truncated", "corrupt")}


@pytest.mark.parametrize("name", ["truncated", "corrupt"])
def test_damaged_driving_video_warns_with_the_count_and_strict_refuses(inputs, damaged, tmp_path: Path,
                                                                       name: str) -> None:
    result = invoke("animate", inputs[0], damaged[name], "-o", tmp_path / "out.mp4", *DEMO)
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("animcli: warning:")]
    assert len(warning) == 1 and "damaged video" in warning[0] and "frames could not be decoded" in warning[0], \
        result.output
    result = invoke("animate", inputs[0], damaged[name], "-o", tmp_path / "strict.mp4", "--strict", *DEMO)
    one_line_error(result, 2, "damaged video")
    assert not (tmp_path / "strict.mp4").exists()
    clean = invoke("animate", inputs[0], damaged["ok"], "-o", tmp_path / "ok-out.mp4", "--strict", *DEMO)
    assert clean.exit_code == 0 and "warning" not in clean.output, clean.output


def test_damaged_videos_are_reported_by_crop_eval_and_training_data(damaged, tmp_path: Path) -> None:
    crop = invoke("crop", damaged["truncated"], "-o", tmp_path / "crop.mp4", "--box", "0,0,32,32", "--size", "32",
                  "--strict")
    one_line_error(crop, 2, "damaged video (truncated)")
    data = tmp_path / "data"
    data.mkdir()
    (data / "clip.mp4").hardlink_to(damaged["corrupt"])
    evaluation = invoke("eval", "--data", data, "--metrics", "l1", *DEMO)
    assert evaluation.exit_code == 0 and "animcli: warning:" in evaluation.output, evaluation.output
    one_line_error(invoke("eval", "--data", data, "--metrics", "l1", "--strict", *DEMO), 2, "damaged video")
    train_data = tmp_path / "train-data"
    (train_data / "train").mkdir(parents=True)
    (train_data / "test").mkdir()
    for split in ("train", "test"):
        (train_data / split / "clip.mp4").hardlink_to(damaged["truncated"])
    result = invoke("train", "--model", "fomm", "--config", "fomm-demo-64", "--data", train_data, "--out",
                    tmp_path / "run", "--perceptual", "none", "--device", "cpu", "--max-steps", "1", "--strict",
                    "--num-workers", "1", "--batch-size", "1", "-q")
    one_line_error(result, 2, "damaged video")  # the worker's error, in our words (D: no "Caught … in DataLoader")
    assert "DataLoader" not in result.output and "Caught" not in result.output


@pytest.mark.slow
def test_eval_workers_check_their_inputs_as_the_parent_does(damaged, tmp_path: Path) -> None:
    """--strict and --max-pixels reach the worker processes of ``eval --engine`` (module settings would not)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "clip.mp4").hardlink_to(damaged["corrupt"])
    workers = ("--metrics", "l1", "--engine", "local", "--workers", "1", *DEMO)
    one_line_error(invoke("eval", "--data", data, "--strict", *workers), 2, "damaged video")
    one_line_error(invoke("eval", "--data", data, "--max-pixels", "1000", *workers), 2, "over the limit of 0.001")


@pytest.mark.parametrize(("change", "fragment"), [
    ("nan", "holds 1 NaN or infinite value"),
    ("inf", "NaN or infinite"),
    ("float64", "is float64; weights must be float32, float16 or bfloat16"),
    ("int8", "is int8; weights must be"),
])
def test_broken_weights_are_refused_naming_the_tensor(inputs, tmp_path: Path, change: str, fragment: str) -> None:
    demo = checkpoints_dir() / "demo" / "demo.safetensors"
    from safetensors import safe_open

    with safe_open(str(demo), "pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(demo))
    name = next(key for key in tensors if key.endswith("conv1.weight"))
    if change in ("nan", "inf"):
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[0] = float(change)
    else:
        tensors[name] = tensors[name].to(getattr(torch, change))
    save_file(tensors, tmp_path / "broken.safetensors", metadata=metadata)
    result = invoke("animate", *inputs, "-o", tmp_path / "out.mp4", "--checkpoint", tmp_path / "broken.safetensors",
                    "--device", "cpu", "-q")
    one_line_error(result, 2, fragment)
    assert name.replace("/", ".") in result.output and not (tmp_path / "out.mp4").exists()


# -- D: limits and environment ----------------------------------------------------------------------------------

def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header declaring width×height (a decompression bomb's first bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def test_images_over_the_pixel_limit_are_refused_from_their_header(inputs, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(30000, 30000))
    started = time.monotonic()
    one_line_error(invoke("animate", bomb, inputs[1], "-o", tmp_path / "out.mp4", *DEMO), 2,
                   "30000x30000 is 900 megapixels, over the limit of 100")
    assert time.monotonic() - started < 30  # refused before decoding, not after minutes and gigabytes
    one_line_error(invoke("crop", bomb, "-o", tmp_path / "crop.png"), 2, "over the limit")
    one_line_error(invoke("animate", inputs[0], inputs[1], "-o", tmp_path / "out.mp4", "--max-pixels", "1000",
                          *DEMO), 2, "64x64 is 0.004096 megapixels, over the limit of 0.001")


@pytest.mark.parametrize(("option", "fragment"), [
    (["--size", "4096"], "--size 4096 is more than 4x the 64 px this model was trained at"),
    (["--output-size", "100000"], "--output-size 100000: 100000x100000"),
])
def test_sizes_that_cannot_work_are_refused_up_front(inputs, tmp_path: Path, option: list[str], fragment: str) -> None:
    one_line_error(invoke("animate", *inputs, "-o", tmp_path / "out.mp4", *option, *DEMO), 2, fragment)


def test_a_huge_batch_is_capped_with_a_warning(inputs, tmp_path: Path) -> None:
    result = invoke("animate", *inputs, "-o", tmp_path / "out.mp4", "--batch-size", "100000", *DEMO)
    assert result.exit_code == 0, result.output
    assert "animcli: warning: --batch-size 100000 lowered to" in result.output


def test_an_unusable_cache_folder_falls_back_with_a_warning(inputs, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ANIMCLI_CACHE_DIR", str(inputs[0] / "cache"))  # under a file: cannot be created
    result = invoke("animate", *inputs, "-o", tmp_path / "out.mp4", "--backend", "onnxruntime", *DEMO)
    assert result.exit_code == 0, result.output
    assert "animcli: warning: cannot use the engine cache" in result.output
    assert (tmp_path / "out.mp4").is_file()


@pytest.mark.parametrize(("model", "fragment"), [
    ("hf://org/repo/../x.pt", "has a '..' segment"),
    ("hf://bad..name/repo/x.pt", "Cannot have -- or .. in repo_id"),
    ("hf://org/re po/x.pt", "Repo id must use alphanumeric chars"),
])
def test_hub_names_the_hub_rejects_are_bad_input(inputs, tmp_path: Path, monkeypatch, model: str,
                                                 fragment: str) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    one_line_error(invoke("animate", *inputs, "-o", tmp_path / "out.mp4", "--model", model, "-q"), 2, fragment)


def test_a_registry_file_that_is_not_utf8_is_named(inputs, tmp_path: Path, monkeypatch) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_bytes(b"[models.x]\nfamily = \"\xff\xfe\"\n")
    monkeypatch.setenv("ANIMCLI_REGISTRY", str(registry))
    one_line_error(invoke("animate", *inputs, "-o", tmp_path / "out.mp4", *DEMO), 2, "is not UTF-8 text")


def test_a_frame_folder_with_a_frame_of_another_size_is_resized(inputs, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    write_video(folder, moving_square(6), fps=10)
    write_image(folder / "000003.png", moving_square(1, size=80)[0])
    result = invoke("animate", inputs[0], folder, "-o", tmp_path / "out", *DEMO)
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").iterdir())) == 6


def test_a_yaml_alias_bomb_is_refused_quickly(inputs, tmp_path: Path) -> None:
    lines = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    config = resolve_config("fomm-demo-64")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n" + yaml.safe_dump(config))
    started = time.monotonic()
    result = invoke("animate", *inputs, "-o", tmp_path / "out.mp4", "--checkpoint",
                    checkpoints_dir() / "demo" / "demo.safetensors", "--config", bomb, "--device", "cpu", "-q")
    one_line_error(result, 2, "expands to more than 100000 values")
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(("section", "key", "value", "fragment"), [
    ("common_params", "num_kp", 100000, "'model_params.common_params.num_kp' must be a whole number from 1 to 1024"),
    ("common_params", "num_kp", -2, "got -2"),
    ("common_params", "num_kp", "8", "got '8'"),
    ("kp_detector_params", "scale_factor", 0, "kp_detector_params.scale_factor' must be a number above 0"),
    ("kp_detector_params", "temperature", 0, "temperature' must be a number above 0"),
    ("generator_params", "estimate_occlusion_map", "yes", "estimate_occlusion_map' must be true or false"),
    (None, "frame_shape", [100000, 100000, 3], "'dataset_params.frame_shape[0]' must be a whole number from 8"),
])
def test_config_values_are_type_and_range_checked_before_a_network_is_built(
        inputs, tmp_path: Path, section: str | None, key: str, value: object, fragment: str) -> None:
    config = resolve_config("fomm-demo-64")
    if section is None:
        config["dataset_params"][key] = value
    else:
        config["model_params"][section][key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = invoke("animate", *inputs, "-o", tmp_path / "out.mp4", "--checkpoint",
                    checkpoints_dir() / "demo" / "demo.safetensors", "--config", path, "--device", "cpu", "-q")
    one_line_error(result, 2, fragment)


@pytest.mark.parametrize(("args", "fragment"), [
    (["animate"], "missing argument 'SOURCE' (see 'animcli animate --help')"),
    (["animate", "a.png", "b.mp4", "--no-such-option"], "no such option: --no-such-option"),
    (["animate", "a.png", "b.mp4", "--size", "x"], "invalid value for '--size'"),
    (["no-such-command"], "no such command 'no-such-command' (see 'animcli --help')"),
])
def test_usage_errors_are_one_line_with_the_hint(args: list[str], fragment: str) -> None:
    result = invoke(*args)
    one_line_error(result, 2, fragment)
    assert len(result.output.strip().splitlines()) == 1 and "Usage:" not in result.output


# -- E: fast validation ----------------------------------------------------------------------------------------

def test_batch_validation_reports_line_10000_within_seconds(tmp_path: Path) -> None:
    write_image(tmp_path / "s.png", moving_square(1)[0])
    write_video(tmp_path / "d.mp4", moving_square(6), fps=10)
    good = {"source": "s.png", "driving": "d.mp4", "model": "demo", "device": "cpu", "mode": "relative",
            "adapt_scale": True, "fps": 12, "threads": 1}
    lines = [json.dumps({**good, "output": f"out/{index}.mp4"}) for index in range(9999)]
    lines.append(json.dumps({**good, "output": "last.mp4", "fps": "fast"}))
    (tmp_path / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    result = invoke("batch", tmp_path / "jobs.jsonl", "-q")
    one_line_error(result, 2, "jobs.jsonl:10000: fps")
    assert time.monotonic() - started < 10  # was 21 s (get_type_hints per field per line)


def test_what_crashed_children_leave_in_the_private_temporaries_goes(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked data-loading worker that dies leaves its ``pymp-*`` folder: inside ``private_temporaries`` that
    folder lives in the run's own, which goes at the end, so nothing is left in TMPDIR."""
    import multiprocessing
    import tempfile

    from animcli.common.files import private_temporaries

    def crash_after_making_a_folder() -> None:
        Path(tempfile.mkdtemp(prefix="pymp-"), "data").write_bytes(b"x")
        os._exit(1)  # no clean-up: as a worker killed mid-batch

    system_tmp = tmp_path / "tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    with private_temporaries("animcli-train-") as folder:
        worker = multiprocessing.get_context("fork").Process(target=crash_after_making_a_folder)
        worker.start()
        worker.join()
        assert worker.exitcode == 1 and len(list(folder.glob("pymp-*"))) == 1
    assert not folder.exists() and not list(system_tmp.iterdir())
