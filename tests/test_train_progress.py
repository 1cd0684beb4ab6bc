"""What `animcli train` tells its user: progress lines or bar, the resume step, clean notices, the last step."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from animcli.cli import app, progress
from tests.test_train_tiny import tiny_dataset, tiny_fomm_config, write_config

runner = CliRunner()


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_dataset(tmp_path_factory.mktemp("data"))


def train_cli(config: Path, data_root: Path, out: Path, *extra: str) -> list[str]:
    result = runner.invoke(app, ["train", "--model", "fomm", "--config", str(config), "--data", str(data_root),
                                 "--out", str(out), "--perceptual", "none", "--log-every", "10", *extra])
    assert result.exit_code == 0, result.output
    return result.stderr.splitlines()


def test_plain_progress_lines_resume_notice_and_last_logged_step(data_root: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tiny_fomm_config(), tmp_path / "fomm.yaml")
    monkeypatch.setattr(progress, "PLAIN_LINE_SECONDS", 0.0)  # a line per step: stderr is not a terminal here

    lines = train_cli(config, data_root, tmp_path / "run", "--max-steps", "3")

    step_lines = [line for line in lines if line.startswith("train fomm: step ")]
    assert [re.match(r"train fomm: step (\d+)/3, ", line)[1] for line in step_lines] == ["1", "2", "3"]
    assert all(re.search(r", \d+\.\d\d steps/s, ETA (\d+:\d\d:\d\d|\?), epoch \d+ perceptual=", line)
               for line in step_lines)
    assert step_lines[-1].split(", ")[2] == "ETA 0:00:00"
    # The --perceptual none notice is one clean line, not a Python warning with its source line.
    assert [line for line in lines if "VGG19" in line] == [
        "animcli: warning: training WITHOUT the VGG19 perceptual loss (--perceptual none): a pixel L1 pyramid "
        "replaces it; expect blurrier results than the papers'"]
    assert not any("UserWarning" in line or ".py:" in line for line in lines)
    # Three steps with --log-every 10: the last step is logged all the same.
    [entry] = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert entry["step"] == 3

    resumed = train_cli(config, data_root, tmp_path / "run", "--resume", "--max-steps", "5")

    assert "resuming at step 3/5 (epoch 1)" in resumed
    assert [line.split(",")[0] for line in resumed if line.startswith("train fomm:")] == [
        "train fomm: step 4/5", "train fomm: step 5/5"]
    assert [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()] == [3, 5]


def test_plain_lines_are_spaced_in_time_but_the_last_step_always_shows(data_root: Path, tmp_path: Path) -> None:
    config = write_config(tiny_fomm_config(), tmp_path / "fomm.yaml")

    lines = train_cli(config, data_root, tmp_path / "run", "--max-steps", "2", "--log-every", "1")

    assert [line.split(",")[0] for line in lines if line.startswith("train fomm:")] == ["train fomm: step 2/2"]
    assert lines[-1].startswith("max steps reached at step 2")
    quiet = train_cli(config, data_root, tmp_path / "quiet", "--max-steps", "2", "--quiet")
    assert not any(line.startswith("train fomm:") for line in quiet)


def test_eta_clock() -> None:
    assert progress._clock(3723.4) == "1:02:03" and progress._clock(59.6) == "0:01:00"


def test_a_terminal_gets_a_rich_bar_with_rate_and_eta() -> None:
    screen = io.StringIO()
    with progress.TrainingProgress("lia", quiet=False) as reporter:
        reporter.console = Console(file=screen, force_terminal=True, width=150)
        reporter.start(step=4, epoch=1, total=10)
        reporter.update(step=5, epoch=1, losses={"rec": 0.25},
                        health={"mask0": 0.31, "mask1": 0.42, "d_real": 0.6, "d_fake": 0.4, "grad_gen": 1.2})
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen.getvalue())  # colours and cursor control
    assert "resuming at step 4/10 (epoch 1)" in text
    assert re.search(r"train lia .*5/10 .*\d+\.\d\d steps/s, ETA \d+:\d\d:\d\d, epoch 1 rec=0\.25 "
                     r"masks 0\.31/0\.42 D 0\.60/0\.40 \|g\| 1\.2", text)
