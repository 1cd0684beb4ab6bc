"""`animcli batch` and the worker engines: manifest validation, mixed jobs, reruns, dying workers, Ray."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner
from worker_tasks import DieTimes, VisibleGpus

from animcli.cli import app
from animcli.data.synth import synth_source_and_driving
from animcli.jobs.local import LocalPool
from animcli.jobs.manifest import read_manifest
from animcli.jobs.pools import EngineOptions, available_cores, open_pool, run_tasks, wants_cuda
from animcli.jobs.tasks import threads_per_worker
from animcli.media import frame_files, read_image, write_image, write_video
from animcli.workflows.request import AnimateRequest, ModelCache, ModelSpec, run_animation

runner = CliRunner()
FRAMES = 6


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two generated source/driving pairs (64 px, FRAMES frames) and a file that is not a video."""
    root = tmp_path_factory.mktemp("batch-inputs")
    for seed in range(2):
        source, driving = synth_source_and_driving(seed, size=64, num_frames=FRAMES)
        write_image(root / f"source{seed}.png", source)
        write_video(root / f"driving{seed}.mp4", driving, fps=12)
    (root / "broken.mp4").write_text("not a video")
    return root


def write_manifest(path: Path, jobs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    return path


def good_jobs(inputs: Path, out: str) -> list[dict]:
    """Two jobs writing lossless frame folders (comparable bit for bit), one with animate options."""
    return [
        {"source": str(inputs / "source0.png"), "driving": str(inputs / "driving0.mp4"), "output": f"{out}/a/"},
        {"source": str(inputs / "source1.png"), "driving": str(inputs / "driving1.mp4"), "output": f"{out}/b/",
         "mode": "absolute", "show_keypoints": True, "model": "demo"},
    ]


def frames_of(folder: Path) -> np.ndarray:
    return np.stack([read_image(path) for path in frame_files(folder)])


# ------------------------------------------------------------------------------------------ manifest checks


def test_manifest_keys_are_the_animate_options() -> None:
    """Batch accepts exactly the request's fields, and every animate option is one: a new animate option that
    is not declared in AnimateRequest fails here."""
    animate = typer.main.get_command(app).commands["animate"]
    # --no-audio is the manifest's "audio": false
    cli_names = {param.name for param in animate.params if not getattr(param, "hidden", False)} - {"quiet", "no_audio"}
    assert cli_names == {item.name for item in fields(AnimateRequest)}


BASE = '"source": "source0.png", "driving": "driving0.mp4"'


@pytest.mark.parametrize(("line", "message"), [
    ('{' + BASE + ', "output": "o.mp4"', "not valid JSON"),
    ('["source0.png", "driving0.mp4"]', "expected a JSON object, got list"),
    ('{' + BASE + '}', "missing output"),
    ('{' + BASE + ', "output": "o.mp4", "adapt_scal": true}', "unknown option 'adapt_scal' (did you mean 'adapt_sc"),
    ('{' + BASE + ', "output": "o.mp4", "size": "big"}', "size: expected int, got 'big'"),
    ('{' + BASE + ', "output": "o.mp4", "size": 64.5}', "size: expected int"),
    ('{' + BASE + ', "output": "o.mp4", "side_by_side": 1}', "side_by_side: expected bool"),
    ('{' + BASE + ', "output": "o.mp4", "mode": "sideways"}', "mode: expected one of 'relative', 'absolute'"),
    ('{' + BASE + ', "output": "o.mp4", "batch_size": 0}', "batch_size must be at least 1"),
    ('{' + BASE + ', "output": "o.mp4", "start": "1:xx"}', "--start takes seconds (12.5) or a clock time"),
    ('{' + BASE + ', "output": "o.mp4", "edit": "yaw=0.3"}', "edit: expected a list, got 'yaw=0.3'"),
    ('{' + BASE + ', "output": "o.mp4", "edit": ["yaw=0.3", 2]}', "edit: expected str, got 2"),
    ('{"source": "source0.png", "driving": "-", "output": "o.mp4"}', "stdin/stdout cannot be shared"),
    ('{' + BASE + ', "output": "o.mp4", "model": "demo", "checkpoint": "x.pth"}', "not both"),
    ('{' + BASE + ', "output": "first.mp4"}', "first.mp4 is also line 1's"),
])
def test_a_malformed_line_is_reported_and_nothing_runs(inputs: Path, tmp_path: Path, line: str, message: str) -> None:
    first = json.dumps({"source": str(inputs / "source0.png"), "driving": str(inputs / "driving0.mp4"),
                        "output": str(tmp_path / "first.mp4")})
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(f"{first}\n\n{line.replace('first.mp4', str(tmp_path / 'first.mp4'))}\n")

    result = runner.invoke(app, ["batch", str(manifest)])

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"animcli: error: {manifest}:3: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "first.mp4").exists()


def test_relative_paths_resolve_against_the_manifest_folder(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "my.yaml").write_text("{}")
    manifest = write_manifest(tmp_path / "jobs" / "m.jsonl", [
        {"source": "in/s.png", "driving": "/abs/d.mp4", "output": "out/frames/", "config": "my.yaml",
         "model": "demo"},
        {"source": "s.png", "driving": "d.mp4", "output": "o.mp4", "config": "fomm-vox-256", "checkpoint": "c.pt"},
    ])

    first, second = (job.request for job in read_manifest(manifest))

    folder = tmp_path / "jobs"
    assert first.source == folder / "in" / "s.png" and first.driving == "/abs/d.mp4"
    assert first.output == f"{folder / 'out' / 'frames'}{os.sep}"  # still a folder of frames
    assert first.config == str(folder / "my.yaml") and first.model == "demo"  # a file there; a registry name
    assert second.config == "fomm-vox-256" and second.checkpoint == folder / "c.pt"


def test_model_cache_loads_each_model_once() -> None:
    cache = ModelCache(capacity=1)
    demo, other_device = ModelSpec("demo", device="cpu"), ModelSpec("demo", device="auto")
    first = cache.get(demo)
    assert cache.get(demo) is first and cache.loads == 1
    cache.get(other_device)
    assert cache.get(demo) is not first and cache.loads == 3  # evicted at capacity 1


# ------------------------------------------------------------------------------------------ running jobs


@pytest.fixture(scope="module")
def local_run(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """Two good jobs and two bad ones, run once by the real `animcli batch` process with two local workers."""
    root = tmp_path_factory.mktemp("batch-local")
    jobs = good_jobs(inputs, "out")
    jobs.insert(1, {"source": "missing.png", "driving": str(inputs / "driving0.mp4"), "output": "out/missing.mp4"})
    jobs.append({"source": str(inputs / "source0.png"), "driving": str(inputs / "broken.mp4"),
                 "output": "out/broken.mp4"})
    manifest = write_manifest(root / "jobs.jsonl", jobs)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.run([sys.executable, "-m", "animcli", "batch", str(manifest), "--workers", "2",
                              "--report", str(root / "report.json")], capture_output=True, text=True, env=env)
    return root, process


def test_mixed_jobs_fail_alone_and_the_report_says_which(local_run: tuple[Path, subprocess.CompletedProcess]
                                                        ) -> None:
    root, process = local_run

    assert process.returncode == 1, process.stderr
    assert "Traceback" not in process.stderr
    assert "2 ok, 0 skipped, 2 failed" in process.stderr
    records = json.loads((root / "report.json").read_text())["jobs"]
    assert [(r["line"], r["status"], r["frames"]) for r in records] == [
        (1, "ok", FRAMES), (2, "failed", 0), (3, "ok", FRAMES), (4, "failed", 0)]
    assert "missing.png" in records[1]["error"] and "broken.mp4" in records[3]["error"]
    assert records[1]["attempts"] == records[3]["attempts"] == 1  # bad inputs are not retried
    assert sorted(path.name for path in (root / "out").iterdir()) == ["a", "b"]  # nothing half-written
    assert len(frame_files(root / "out" / "a")) == FRAMES


def test_batch_frames_are_what_animate_makes(local_run: tuple[Path, subprocess.CompletedProcess],
                                            inputs: Path, tmp_path: Path) -> None:
    """The job ran the animate code path: same frames as run_animation in this process (with the worker's
    intra-op thread count, which float rounding depends on)."""
    root, _ = local_run
    request = AnimateRequest(source=inputs / "source1.png", driving=str(inputs / "driving1.mp4"),
                             output=str(tmp_path / "here"), model="demo", mode="absolute", show_keypoints=True,
                             threads=threads_per_worker(available_cores(), 2))
    run_animation(request)
    np.testing.assert_array_equal(frames_of(root / "out" / "b"), frames_of(tmp_path / "here"))


def test_rerun_skips_finished_jobs(local_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    root, _ = local_run
    written = (root / "out" / "a").stat().st_mtime_ns

    result = runner.invoke(app, ["batch", str(root / "jobs.jsonl"), "--json", "--quiet"])

    assert result.exit_code == 1  # the bad jobs were tried again, and failed again
    report = json.loads(result.stdout)
    assert [record["status"] for record in report["jobs"]] == ["skipped", "failed", "skipped", "failed"]
    assert report["summary"] | {"seconds": 0} == {"ok": 0, "skipped": 2, "failed": 2, "jobs": 4, "frames": 0,
                                                  "workers": 1, "seconds": 0}
    assert (root / "out" / "a").stat().st_mtime_ns == written


# ------------------------------------------------------------------------------------------ engines


@pytest.fixture(scope="module")
def ray_instance() -> object:
    """A local Ray instance with 2 CPUs, offline; its workers import this test folder too."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}})
    yield ray
    ray.shutdown()


@pytest.fixture(params=["local", "ray"])
def engine(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("ray_instance")
    return request.param


def test_a_dead_worker_is_replaced_and_its_task_retried(engine: str, tmp_path: Path) -> None:
    tasks = [DieTimes(tmp_path / "once", 1), DieTimes(tmp_path / "always", 9)]

    with open_pool(EngineOptions(engine, workers=2)) as pool:
        outcomes = sorted(run_tasks(pool, tasks, retries=1), key=lambda outcome: outcome.index)

    retried, exhausted = outcomes
    assert retried.ok and retried.attempts == 2
    pid, threads = retried.value
    assert pid != os.getpid()
    cores = 2 if engine == "ray" else available_cores()  # the Ray instance was given 2 CPUs
    assert threads == threads_per_worker(cores, 2)
    assert not exhausted.ok and exhausted.attempts == 2 and "worker died" in exhausted.error


def test_local_workers_get_one_gpu_each_and_are_replaced_when_dead() -> None:
    assert wants_cuda({"cpu", "cuda:1"}, cuda_present=False) and wants_cuda({"auto"}, cuda_present=True)
    assert not wants_cuda({"auto", "cpu"}, cuda_present=False) and not wants_cuda({"cpu"}, cuda_present=True)
    with LocalPool(workers=2, threads=1, gpus=2) as pool:
        for slot in range(2):
            pool.submit(slot, VisibleGpus())
        seen = {}
        while len(seen) < 2:
            seen |= {event.slot: event.result.value for event in pool.wait()}
        assert seen == {0: "0", 1: "1"}
        # A worker that dies while idle is replaced (with its GPU) when it is given the next task.
        process = pool.workers[1][0]
        process.kill()
        process.join()
        pool.submit(1, VisibleGpus())
        assert [(event.slot, event.result.value) for event in pool.wait()] == [(1, "1")]


def test_ray_engine_writes_the_same_frames(ray_instance: object, local_run: tuple[Path, subprocess.CompletedProcess],
                                          inputs: Path, tmp_path: Path) -> None:
    local_root, _ = local_run
    manifest = write_manifest(tmp_path / "jobs.jsonl", good_jobs(inputs, "out"))

    result = runner.invoke(app, ["batch", str(manifest), "--engine", "ray", "--workers", "2", "--quiet"])

    assert result.exit_code == 0, result.output
    for name in ("a", "b"):
        np.testing.assert_array_equal(frames_of(tmp_path / "out" / name), frames_of(local_root / "out" / name))


# ------------------------------------------------------------------------------------------ sharded eval


def eval_report(*args: str) -> dict:
    result = runner.invoke(app, ["eval", *args, "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_sharded_eval_equals_the_single_process_run(shared_dir: Path, engine: str) -> None:
    args = ["--model", "demo", "--data", str(shared_dir / "datasets" / "shapes" / "test"), "--limit", "2",
            "--metrics", "l1", "--device", "cpu"]
    cores = 2 if engine == "ray" else available_cores()
    # Float rounding depends on the intra-op thread count: give this process a worker's share of the cores.
    single = eval_report(*args, "--threads", str(threads_per_worker(cores, 2)))

    sharded = eval_report(*args, "--engine", engine, "--workers", "2")

    assert sharded == single
    assert [record["video"] for record in sharded["videos"]] == sorted(record["video"] for record in single["videos"])
