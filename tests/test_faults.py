"""Fault injection through real processes: signals in the middle of a write, a full disk, a read-only
destination. Each case asserts the exit code, a single `animcli: error:` line and no traceback, that inputs and
earlier outputs are byte-identical, and that no temporary file is left behind (issue: reliability)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from animcli.media import write_image, write_video

pytestmark = pytest.mark.slow

FRAMES = 800  # long enough that no machine finishes before the signal arrives
PRIOR = b"an earlier result the failed run must not touch"


def noisy_frames(count: int, size: int = 64, seed: int = 0) -> Iterator[np.ndarray]:
    """Frames that do not compress well (so outputs grow fast) with a square moving across them."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        frame = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        frame[16:40, index % 40:index % 40 + 24] = 230
        yield frame


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    write_image(folder / "source.png", next(noisy_frames(1, seed=1)))
    write_video(folder / "long.mp4", noisy_frames(FRAMES), fps=25)
    return folder / "source.png", folder / "long.mp4"


def animcli(*args: object, **popen: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "animcli", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **popen)


def partial_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".partial-" in p.name]


def wait_for_partial(process: subprocess.Popen, folder: Path, timeout: float = 300) -> None:
    """Block until the run has started writing (a temporary output exists), so the signal lands mid-write."""
    deadline = time.monotonic() + timeout
    while not partial_files(folder):
        if process.poll() is not None:
            pytest.fail(f"the run ended before it started writing: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the run never started writing")
        time.sleep(0.05)


def assert_clean_failure(process: subprocess.Popen, code: int, fragment: str, timeout: float = 120) -> None:
    _, stderr = process.communicate(timeout=timeout)
    assert process.returncode == code, (process.returncode, stderr)
    errors = [line for line in stderr.splitlines() if line.startswith("animcli: error:")]
    assert len(errors) == 1 and fragment in errors[0], stderr
    assert "Traceback" not in stderr


SIGNALS = [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]


@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS)
def test_animate_signal_mid_write(media, tmp_path: Path, signum: int, code: int, word: str) -> None:
    source, driving = media
    target = tmp_path / "out.mp4"
    target.write_bytes(PRIOR)
    process = animcli("animate", source, driving, "-o", target, "--model", "demo", "--device", "cpu", "-q")
    wait_for_partial(process, tmp_path)
    process.send_signal(signum)
    assert_clean_failure(process, code, word)
    assert target.read_bytes() == PRIOR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS)
def test_crop_signal_mid_write(media, tmp_path: Path, signum: int, code: int, word: str) -> None:
    _, driving = media
    process = animcli("crop", driving, "-o", tmp_path / "crop.mp4", "--box", "0,0,48,48", "--size", "64")
    wait_for_partial(process, tmp_path)
    process.send_signal(signum)
    assert_clean_failure(process, code, word)
    assert list(tmp_path.iterdir()) == []


def test_eval_out_signal_mid_write(media, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.link(media[1], data / "clip.mp4")
    out = tmp_path / "report"
    process = animcli("eval", "--data", data, "--model", "demo", "--out", out, "--metrics", "l1", "--device", "cpu",
                      "-q")
    wait_for_partial(process, out)
    process.send_signal(signal.SIGTERM)
    assert_clean_failure(process, 143, "terminated")
    assert partial_files(tmp_path) == []


def test_train_sigterm_checkpoints_and_leaves_no_temporary(tmp_path: Path, shared_dir: Path) -> None:
    out = tmp_path / "run"
    process = animcli("train", "--model", "fomm", "--config", "fomm-demo-64", "--data", shared_dir / "datasets" /
                      "shapes", "--out", out, "--perceptual", "none", "--device", "cpu", "--max-steps", "100000",
                      "--checkpoint-every", "100000", "-q")
    deadline = time.monotonic() + 300
    while not (out / "config.yaml").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=300)
    assert "Traceback" not in stderr
    assert (out / "last.pth.tar").is_file(), stderr
    assert partial_files(tmp_path) == []


# -- a full disk and a read-only destination ------------------------------------------------------------------

@contextlib.contextmanager
def small_filesystem(mount_point: Path, options: str) -> Iterator[bool]:
    """A tmpfs mounted with ``options`` where this machine allows it (root); yields whether it is mounted."""
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
                             capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_full_disk_is_named_and_prior_output_kept(media, tmp_path: Path) -> None:
    source, driving = media
    with small_filesystem(tmp_path / "disk", "size=96k") as mounted:
        target = tmp_path / "disk" / "out.mp4"
        limit: dict[str, object] = {}
        if not mounted:  # no mount privilege: a file-size limit stands in for the full disk
            target.parent.mkdir(exist_ok=True)

            def limit_file_size() -> None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

            limit = {"preexec_fn": limit_file_size}
        target.write_bytes(PRIOR)
        process = animcli("animate", source, driving, "-o", target, "--model", "demo", "--device", "cpu", "-q",
                          "--no-audio", "--side-by-side", **limit)
        assert_clean_failure(process, 1, "no space left on device" if mounted else "file size limit exceeded",
                             timeout=600)
        assert target.read_bytes() == PRIOR
        assert partial_files(target.parent) == []


def test_read_only_destination(media, tmp_path: Path) -> None:
    source, driving = media
    with small_filesystem(tmp_path / "ro", "ro,size=64k") as mounted:
        if not mounted:
            pytest.skip("cannot mount a read-only filesystem here (not root); root ignores permission bits")
        process = animcli("animate", source, driving, "-o", tmp_path / "ro" / "out.mp4", "--model", "demo",
                          "--device", "cpu", "-q")
        assert_clean_failure(process, 2, "read-only file system")


def test_batch_sigterm_stops_its_workers_and_leaves_no_temporary(media, tmp_path: Path) -> None:
    """The pool's worker processes are stopped with the run: none is left writing after the batch exits."""
    source, driving = media
    done = tmp_path / "done.mp4"
    done.write_bytes(PRIOR)
    jobs = tmp_path / "jobs.jsonl"
    lines = [{"source": str(source), "driving": str(driving), "output": f"out-{index}.mp4", "model": "demo",
              "device": "cpu"} for index in range(2)]
    lines.append({"source": str(source), "driving": str(driving), "output": "done.mp4", "model": "demo"})
    jobs.write_text("".join(json.dumps(line) + "\n" for line in lines))
    process = animcli("batch", jobs, "--workers", "2", "-q")
    wait_for_partial(process, tmp_path)
    process.send_signal(signal.SIGTERM)
    assert_clean_failure(process, 143, "terminated")
    time.sleep(1)  # a worker that outlived its parent would write again within this second
    assert done.read_bytes() == PRIOR  # skipped as done, never rewritten
    assert partial_files(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done.mp4", "jobs.jsonl"]


def test_edit_sigterm_keeps_the_earlier_output(media, tmp_path: Path, reference_dir: Path) -> None:
    _, driving = media
    target = tmp_path / "out.mp4"
    target.write_bytes(PRIOR)
    process = animcli("edit", driving, "--checkpoint", reference_dir / "liax" / "fixtures" / "checkpoint.pt",
                      "--edit", "0=1", "-o", target, "--overwrite", "--device", "cpu", "-q")
    wait_for_partial(process, tmp_path)
    process.send_signal(signal.SIGTERM)
    assert_clean_failure(process, 143, "terminated")
    assert target.read_bytes() == PRIOR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_predict_sigterm_keeps_the_earlier_output(model_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    target.write_bytes(PRIOR)
    process = animcli("predict", model_dir / "source.png", "-o", target, "--checkpoint",
                      model_dir / "checkpoint.pth.tar", "--frames", FRAMES * 4, "--device", "cpu", "-q")
    wait_for_partial(process, tmp_path)
    process.send_signal(signal.SIGTERM)
    assert_clean_failure(process, 143, "terminated")
    assert target.read_bytes() == PRIOR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
