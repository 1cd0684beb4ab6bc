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


# -- issue 28: closed pipes, Ctrl-C from a terminal, stdin spooling, orphans, created folders ----------------------

def test_a_closed_pipe_ends_quietly_with_sigpipe_status(media, tmp_path: Path) -> None:
    """`animate … -o - | head -c 1000`: the reader goes away; animcli ends like a Unix tool killed by SIGPIPE
    (exit 141, nothing printed), and with stdout closed (`>&-`) it refuses in one line."""
    source, driving = media
    command = [sys.executable, "-m", "animcli", "animate", str(source), str(driving), "-o", "-", "--model", "demo",
               "--device", "cpu", "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=False)
    assert len(process.stdout.read(1000)) == 1000
    process.stdout.close()  # the reader (`head -c 1000`) exits
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 141, stderr
    assert stderr == b""
    closed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300,
                            preexec_fn=lambda: os.close(1))
    assert closed.returncode == 2 and closed.stderr.count("animcli: error:") == 1, closed.stderr
    assert "standard output is closed" in closed.stderr and "Traceback" not in closed.stderr


def _interrupt_like_a_terminal(process: subprocess.Popen) -> None:
    """Ctrl-C in a terminal: SIGINT to the whole foreground process group (animcli and every child it started)."""
    os.killpg(process.pid, signal.SIGINT)


def test_ctrl_c_from_a_terminal_finalises_live_output(media, tmp_path: Path) -> None:
    source, driving = media
    target = tmp_path / "live.mp4"
    process = animcli("live", source, "--camera", driving, "-o", target, "--model", "demo", "--device", "cpu", "-q",
                      start_new_session=True)
    wait_for_partial(process, tmp_path)
    time.sleep(1.0)  # some frames encoded
    _interrupt_like_a_terminal(process)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr  # Ctrl-C is how a live session ends: the file is finalised
    assert "Traceback" not in stderr and "error" not in stderr, stderr
    from animcli.media import probe_video

    assert probe_video(target)["frame_count"] > 0
    assert partial_files(tmp_path) == []


def test_ctrl_c_from_a_terminal_keeps_animate_s_partial_output_rule(media, tmp_path: Path) -> None:
    source, driving = media
    target = tmp_path / "out.mp4"
    target.write_bytes(PRIOR)
    process = animcli("animate", source, driving, "-o", target, "--model", "demo", "--device", "cpu", "-q",
                      start_new_session=True)
    wait_for_partial(process, tmp_path)
    _interrupt_like_a_terminal(process)
    assert_clean_failure(process, 130, "interrupted")  # not "ffmpeg failed": the encoder never saw the Ctrl-C
    assert target.read_bytes() == PRIOR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_stdin_is_spooled_leaves_no_spool_file(media, tmp_path: Path, signum: int) -> None:
    source, _ = media
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    process = subprocess.Popen([sys.executable, "-m", "animcli", "animate", str(source), "-", "-o",
                                str(tmp_path / "out.mp4"), "--model", "demo", "--device", "cpu", "-q"],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TMPDIR": str(spool_dir)})
    process.stdin.write("x" * 100_000)  # a video still arriving
    process.stdin.flush()
    deadline = time.monotonic() + 120
    while not list(spool_dir.glob("animcli-stdin-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(spool_dir.glob("animcli-stdin-*")), "the run never started spooling"
    process.send_signal(signum)
    assert_clean_failure(process, 143 if signum == signal.SIGTERM else 130, "terminated" if signum == signal.SIGTERM
                         else "interrupted")
    assert list(spool_dir.glob("animcli-stdin-*")) == []  # (torch keeps caches of its own in TMPDIR)


def test_sigterm_removes_the_folders_it_created_for_the_output(media, tmp_path: Path) -> None:
    source, driving = media
    process = animcli("animate", source, driving, "-o", tmp_path / "a" / "b" / "c" / "out.mp4", "--model", "demo",
                      "--device", "cpu", "-q")
    wait_for_partial(process, tmp_path)
    process.send_signal(signal.SIGTERM)
    assert_clean_failure(process, 143, "terminated")
    assert list(tmp_path.iterdir()) == []


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to find the workers")
def test_workers_die_with_a_killed_batch_and_leave_no_temporary(media, tmp_path: Path) -> None:
    """`kill -9` of animcli batch: the kernel's parent-death signal stops the workers (and their encoders) at once;
    they unwind, so their temporary outputs go too."""
    source, driving = media
    jobs = tmp_path / "jobs.jsonl"
    lines = [{"source": str(source), "driving": str(driving), "output": f"out-{index}.mp4", "model": "demo",
              "device": "cpu"} for index in range(2)]
    jobs.write_text("".join(json.dumps(line) + "\n" for line in lines))
    process = animcli("batch", jobs, "--workers", "2", "-q")
    wait_for_partial(process, tmp_path)
    workers = _children(process.pid)
    assert workers
    process.kill()
    process.communicate(timeout=60)
    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "a worker outlived its killed parent"
    deadline = time.monotonic() + 30
    while partial_files(tmp_path) and time.monotonic() < deadline:  # an encoder may take a moment to go
        time.sleep(0.1)
    assert partial_files(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.jsonl"]
