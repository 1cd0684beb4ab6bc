"""The training engine: official checkpoint layout, exact resume, mixed precision, DDP, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from test_train_tiny import tiny_dataset, tiny_fomm_config, tiny_lia_config, tiny_monkeynet_config, write_config
from typer.testing import CliRunner

from animcli.cli import app
from animcli.train import TrainError, TrainOptions, train
from animcli.train.loop import TrainingRun
from animcli.train.run_record import RunChoiceError
from animcli.train.validation import reconstruction_l1
from animcli.weights.checkpoint_io import load_checkpoint_file
from animcli.weights.loading import load_model

pytestmark = pytest.mark.filterwarnings("ignore:training WITHOUT the VGG19")

FAMILY_CONFIGS = {
    "fomm": (lambda: tiny_fomm_config(generator_gan=1), ".yaml", "last.pth.tar"),
    "lia": (tiny_lia_config, ".json", "last.pt"),
    "monkeynet": (tiny_monkeynet_config, ".yaml", "last.pth.tar"),
}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 4 training videos at batch 2: an epoch is 2 steps, so short runs cross epoch boundaries.
    return tiny_dataset(tmp_path_factory.mktemp("data"))


def config_file(family: str, directory: Path) -> Path:
    make, suffix, _ = FAMILY_CONFIGS[family]
    path = directory / f"{family}{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(make()))
        return path
    return write_config(make(), path)


def options(family: str, data_root: Path, out: Path, **overrides) -> TrainOptions:
    settings = dict(model=family, data=data_root, out=out, perceptual="none",
                    checkpoint_every=100, sample_every=100)
    settings.update(overrides)
    return TrainOptions(**settings)


def weights(path: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(path, weights_only=True)
    return {f"{net}.{key}": value for net, state in checkpoint.items()
            if net in {"generator", "kp_detector", "discriminator", "gen", "dis"} for key, value in state.items()}


@pytest.mark.parametrize("family", sorted(FAMILY_CONFIGS))
def test_resumed_run_reaches_the_uninterrupted_weights_bit_for_bit(family: str, data_root: Path,
                                                                   tmp_path: Path) -> None:
    config = str(config_file(family, tmp_path))
    checkpoint_name = FAMILY_CONFIGS[family][2]
    straight = train(options(family, data_root, tmp_path / "straight", config=config, max_steps=3))
    assert straight.position.step == 3 and straight.position.epoch == 1
    train(options(family, data_root, tmp_path / "split", config=config, max_steps=1))
    resumed = train(options(family, data_root, tmp_path / "split", resume=True, max_steps=3))
    assert resumed.position == straight.position
    expected, actual = weights(tmp_path / "straight" / checkpoint_name), weights(tmp_path / "split" / checkpoint_name)
    assert expected.keys() == actual.keys()
    for key, value in expected.items():
        assert torch.equal(value, actual[key]), key
    first_step = weights(tmp_path / "straight" / checkpoint_name)
    train(options(family, data_root, tmp_path / "other-seed", config=config, max_steps=3, seed=1))
    other = weights(tmp_path / "other-seed" / checkpoint_name)
    assert any(not torch.equal(first_step[k], other[k]) for k in first_step)


def test_cli_run_writes_an_official_checkpoint_that_animate_loads(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "--model", "fomm", "--config", str(config_file("fomm", tmp_path)), "--data", str(data_root),
            "--out", str(out), "--max-steps", "2", "--perceptual", "none", "--sample-every", "1",
            "--log-every", "1", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    checkpoint = load_checkpoint_file(out / "last.pth.tar")
    official = {"generator", "kp_detector", "discriminator", "optimizer_generator", "optimizer_kp_detector",
                "optimizer_discriminator", "epoch"}
    assert official <= checkpoint.keys()
    assert not any(key.startswith("module.") for key in checkpoint["generator"])
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step-0000001.png", "step-0000002.png"]
    model = load_model(out / "last.pth.tar", out / "config.yaml", device="cpu")
    score = reconstruction_l1(model, data_root / "test")
    assert score.videos == 1 and score.frames == 4 and 0 < score.model < 1 and 0 < score.copy_source < 1
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output


def test_lia_run_directory_loads_as_a_lia_model(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "lia"
    train(options("lia", data_root, out, config=str(config_file("lia", tmp_path)), max_steps=1))
    assert {"gen", "dis", "g_optim", "d_optim"} <= load_checkpoint_file(out / "last.pt").keys()
    model = load_model(out / "last.pt", out / "config.json", device="cpu")
    assert model.family == "lia" and model.size == 32


def test_resume_needs_a_checkpoint_and_the_same_seed(data_root: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="nothing to resume"):
        train(options("fomm", data_root, tmp_path / "none", resume=True))
    config = str(config_file("fomm", tmp_path))
    train(options("fomm", data_root, tmp_path / "run", config=config, max_steps=1))
    with pytest.raises(RunChoiceError, match="started with --seed 0"):
        train(options("fomm", data_root, tmp_path / "run", resume=True, max_steps=2, seed=5))


def test_bf16_autocast_trains_float32_weights_on_cpu(data_root: Path, tmp_path: Path) -> None:
    run = TrainingRun(options("fomm", data_root, tmp_path / "bf16", config=str(config_file("fomm", tmp_path)),
                              precision="bf16", max_steps=1))
    generator = run.family.networks["generator"]
    seen_dtypes = []
    generator.final.register_forward_hook(lambda module, inputs, output: seen_dtypes.append(output.dtype))
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    result = run.fit()
    assert seen_dtypes == [torch.bfloat16]
    assert all(torch.isfinite(torch.tensor(v)) for v in result.last_losses.values())
    after = generator.state_dict()
    assert all(p.dtype == torch.float32 for p in generator.parameters())
    assert any(not torch.equal(before[k], after[k]) for k in before)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ddp_worker(rank: int, port: int, train_options: TrainOptions, dump: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    run = TrainingRun(train_options)
    try:
        run.fit()
        torch.save({key: net.state_dict() for key, net in run.family.networks.items()},
                   dump / f"rank{rank}.pt")
    finally:
        run.world.close()


@pytest.mark.slow
def test_two_process_gloo_ddp_keeps_replicas_identical(data_root: Path, tmp_path: Path) -> None:
    config = tiny_fomm_config(generator_gan=1)
    config["train_params"]["batch_size"] = 4  # global: 2 per process
    train_options = options("fomm", data_root, tmp_path / "ddp", config=str(write_config(config, tmp_path / "c.yaml")),
                            max_steps=2, device="cpu")
    mp.spawn(ddp_worker, args=(free_port(), train_options, tmp_path), nprocs=2, join=True)
    replicas = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for net, state in replicas[0].items():
        for key, value in state.items():
            if not key.endswith(("running_mean", "running_var")):  # BN statistics are per process on CPU
                assert torch.equal(value, replicas[1][net][key]), f"{net}.{key}"
    saved = load_checkpoint_file(tmp_path / "ddp" / "last.pth.tar")
    assert saved["animcli_train"]["world_size"] == 2 and len(saved["animcli_train"]["rng"]) == 2
    assert torch.equal(saved["generator"]["final.weight"], replicas[0]["generator"]["final.weight"])


@pytest.mark.slow
def test_ctrl_c_finishes_the_step_checkpoints_and_can_resume(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    # Enough epochs that the run cannot finish before the signal arrives, however fast the machine.
    config = tiny_fomm_config()
    config["train_params"]["num_epochs"] = 10_000
    command = [sys.executable, "-m", "animcli", "train", "--model", "fomm", "--config",
               str(write_config(config, tmp_path / "long.yaml")), "--data", str(data_root), "--out", str(out),
               "--perceptual", "none", "--log-every", "1", "--quiet"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "log.jsonl").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "interrupted at step" in stderr
    step = torch.load(out / "last.pth.tar", weights_only=True)["animcli_train"]["step"]
    assert step >= 1
    resumed = train(options("fomm", data_root, out, resume=True, max_steps=step + 1))
    assert resumed.position.step == step + 1


def test_copy_source_baseline_measures_motion_only(tmp_path: Path) -> None:
    from animcli.media import write_image
    from animcli.train.validation import copy_source_l1

    still = np.full((8, 8 * 3, 3), 90, np.uint8)
    write_image(tmp_path / "still.png", still)
    assert copy_source_l1(tmp_path / "still.png", 8) == (0.0, 3)
    moving = still.copy()
    moving[:, 8:] = 90 + 51  # frames 1 and 2 brighter by 0.2
    write_image(tmp_path / "moving.png", moving)
    total, count = copy_source_l1(tmp_path / "moving.png", 8)
    assert count == 3 and total == pytest.approx(0.4, abs=1e-6)


@pytest.mark.parametrize("family", ["fomm", "lia"])
def test_model_spec_fine_tunes_from_its_weights_and_config(family: str, data_root: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    train(options(family, data_root, first, config=str(config_file(family, tmp_path)), max_steps=1))
    checkpoint = next(first.glob("last.*"))
    # The model is a checkpoint path: its family and (sibling) config are read from it.
    run = TrainingRun(options(checkpoint.as_posix(), data_root, tmp_path / "tuned", config=None))
    started = {key: net.state_dict() for key, net in run.family.networks.items()}
    for key, tensors in load_checkpoint_file(checkpoint).items():
        if key in started:
            assert all(torch.equal(tensors[name], value) for name, value in started[key].items())
    assert run.family.family == family
