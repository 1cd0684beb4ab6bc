"""`train --resume --out RUN` continues a run with the choices it was started with (run.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_train_prediction import prediction_config
from test_train_tiny import tiny_dataset, tiny_fomm_config, write_config
from typer.testing import CliRunner

from animcli.cli import app
from animcli.train import TrainOptions, train
from animcli.train.run_record import RECORD_NAME, RunChoiceError

runner = CliRunner()


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def fomm_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """One step of a tiny FOMM run started with non-default choices."""
    root = tmp_path_factory.mktemp("fomm")
    config = write_config(tiny_fomm_config(), root / "fomm.yaml")
    result = runner.invoke(app, ["train", "--model", "fomm", "--config", str(config), "--data", str(data_root),
                                 "--out", str(root / "run"), "--perceptual", "none", "--seed", "3",
                                 "--threads", "1", "--max-steps", "1", "-q"])
    assert result.exit_code == 0, result.output
    return root / "run"


def test_the_run_folder_records_its_choices(fomm_run: Path, data_root: Path) -> None:
    record = json.loads((fomm_run / RECORD_NAME).read_text())
    assert record == {"model": "fomm", "data": str(data_root.resolve()), "task": "animation", "perceptual": "none",
                      "precision": "auto", "seed": 3, "vgg_weights": None, "threads": 1, "family": "fomm"}


def test_resume_needs_only_the_run_folder(fomm_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for path in fomm_run.iterdir():
        if path.is_file():
            (run / path.name).write_bytes(path.read_bytes())
    result = runner.invoke(app, ["train", "--resume", "--out", str(run), "--max-steps", "2", "-q"])
    assert result.exit_code == 0, result.output
    # --perceptual none is remembered (no VGG19 download), and so is --seed 3 (a different seed is refused).
    assert "training WITHOUT the VGG19 perceptual loss" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("max steps reached at step 2")


@pytest.mark.parametrize(("option", "value", "recorded"), [
    ("--perceptual", "vgg", "--perceptual none"), ("--model", "lia", "--model fomm"), ("--seed", "0", "--seed 3"),
    ("--task", "prediction", "--task animation"),
])
def test_a_resume_option_that_contradicts_the_run_is_refused(fomm_run: Path, option: str, value: str,
                                                              recorded: str) -> None:
    before = (fomm_run / "last.pth.tar").read_bytes()
    result = runner.invoke(app, ["train", "--resume", "--out", str(fomm_run), option, value, "--max-steps", "5"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith(f"animcli: error: this run was started with {recorded}; resume it without "
                                    f"{option}")
    assert (fomm_run / "last.pth.tar").read_bytes() == before


def test_a_changed_data_path_is_announced(fomm_run: Path, tmp_path: Path) -> None:
    other = tiny_dataset(tmp_path / "moved")
    with pytest.warns(UserWarning, match=r"--data .*moved replaces the run's .*data"):
        result = train(TrainOptions(out=fomm_run, resume=True, data=other, max_steps=1))
    assert result.stop_reason == "max steps reached"


def test_a_prediction_run_resumes_from_its_folder_alone(data_root: Path, tmp_path: Path) -> None:
    from test_train_prediction import trained_monkeynet

    model = trained_monkeynet(tmp_path / "mn", prediction_config())
    train(TrainOptions(model=str(model), task="prediction", data=data_root, out=tmp_path / "pred", max_steps=1))
    result = train(TrainOptions(out=tmp_path / "pred", resume=True, max_steps=2))
    assert result.position.step == 2


def test_a_new_run_needs_model_and_data(data_root: Path, tmp_path: Path) -> None:
    with pytest.raises(RunChoiceError, match=r"--model \(a family or a model to fine-tune\) is required"):
        train(TrainOptions(out=tmp_path / "run", data=data_root, config="fomm-shapes-64"))
    result = runner.invoke(app, ["train", "--model", "fomm", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "--data (the dataset root) is required" in result.output
    assert not (tmp_path / "run").exists()
