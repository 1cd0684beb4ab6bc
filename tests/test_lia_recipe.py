"""LIA's small-recipe switches (issue 30) do what they say, default to the paper, and training health is logged."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from test_train_tiny import FRAME, tiny_dataset, tiny_fomm_config, tiny_lia_config, tiny_monkeynet_config, write_config
from typer.testing import CliRunner

from animcli.cli import app
from animcli.data import Augmentation, PairSampling, TrainingPairs
from animcli.models.configs import resolve_config
from animcli.models.lia.model import to_signed_range
from animcli.train import TrainOptions, train
from animcli.train import lia as lia_training
from animcli.train.health import CLOSED_MASK, HealthWatch, TrainingHealthWarning
from animcli.train.lia import DEFAULT_TRAIN_PARAMS
from animcli.train.precision import Precision
from animcli.train.trainer import TrainContext

pytestmark = pytest.mark.filterwarnings("ignore:training WITHOUT the VGG19")
CPU = torch.device("cpu")


SWITCHES = {"output_bias", "mask_bias_init", "flow_init", "generator_beta1", "gan_start_step", "r1_gamma"}


def lia_trainer(**switches: Any) -> lia_training.LiaTrainer:
    """The tiny LIA with the paper's settings (lia-shapes-64's own switches removed) and ``switches``."""
    config = copy.deepcopy(tiny_lia_config())
    paper = {key: value for key, value in config["train_params"].items() if key not in SWITCHES}
    config["train_params"] = {**paper, "batch_size": 4, **switches}
    context = TrainContext(device=CPU, precision=Precision("fp32", CPU), parallel=lambda module: module,
                           sync_batch_norm=lambda module: module, perceptual="none")
    torch.manual_seed(0)
    return lia_training.LiaTrainer(config, context)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> TrainingPairs:
    root = tiny_dataset(tmp_path_factory.mktemp("shapes"), videos=4, frames=4)
    return TrainingPairs(root, (FRAME, FRAME), Augmentation.from_params({}), PairSampling(distinct=True),
                         num_repeats=8)


def batch_of(pairs: TrainingPairs, size: int = 4) -> dict[str, torch.Tensor]:
    items = [pairs[(index, index)] for index in range(size)]  # the keys calibration reads
    return {key: torch.stack([item[key] for item in items]) for key in ("source", "driving")}


def test_defaults_are_the_papers_and_the_published_recipes_set_no_switch() -> None:
    trainer = lia_trainer()
    generator = trainer.networks["gen"].requires_grad_(False)
    assert trainer.optimizers["g_optim"].param_groups[0]["betas"][0] == 0.0
    assert all(float(flow.bias[0, 2]) == 0.0 for flow in generator.dec.to_flows)
    assert all(float(flow.conv.weight[:, 0:2].abs().sum()) > 0 for flow in generator.dec.to_flows)
    for name in ("lia-vox", "lia-taichi", "lia-ted"):
        assert not SWITCHES & set(resolve_config(name).get("train_params", {})), name
    assert set(DEFAULT_TRAIN_PARAMS) >= SWITCHES


def test_data_mean_output_bias_makes_the_untrained_output_match_the_data(pairs: TrainingPairs) -> None:
    trainer = lia_trainer(output_bias="data_mean")
    generator = trainer.networks["gen"]
    batch = batch_of(pairs, lia_training.CALIBRATION_ITEMS)
    source, driving = to_signed_range(batch["source"]), to_signed_range(batch["driving"])
    with torch.no_grad():
        before = generator(source, driving).mean((0, 2, 3))
    trainer.prepare(pairs)
    with torch.no_grad():
        after = generator(source, driving).mean((0, 2, 3))
    target = driving.mean((0, 2, 3))
    assert (before - target).abs().min() > 0.3  # the untrained output is far brighter than shapes data
    torch.testing.assert_close(after, target, atol=1e-4, rtol=0)


def test_paper_output_bias_leaves_the_network_untouched(pairs: TrainingPairs) -> None:
    trainer = lia_trainer()
    state = copy.deepcopy(trainer.networks["gen"].state_dict())
    trainer.prepare(pairs)
    for key, value in trainer.networks["gen"].state_dict().items():
        assert torch.equal(value, state[key]), key


def flow_logits_of(trainer: lia_training.LiaTrainer, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        return trainer.networks["gen"].render(to_signed_range(batch["source"]), to_signed_range(batch["driving"]))[1]


def test_open_masks_and_identity_flows(pairs: TrainingPairs) -> None:
    batch = batch_of(pairs)
    paper = flow_logits_of(lia_trainer(), batch)
    opened = flow_logits_of(lia_trainer(mask_bias_init=2.0), batch)
    torch.testing.assert_close(opened[0][:, 2], paper[0][:, 2] + 2.0)
    for level, logits in enumerate(opened):
        assert float(torch.sigmoid(logits[:, 2]).mean()) > 0.75 > float(torch.sigmoid(paper[level][:, 2]).mean())
    for logits in flow_logits_of(lia_trainer(flow_init="identity"), batch):
        assert float(logits[:, 0:2].abs().max()) == 0.0  # zero offset: the identity warp
    with pytest.raises(Exception, match="flow_init"):
        lia_trainer(flow_init="zero")


def test_generator_beta1_sets_adam_momentum_for_the_generator_only() -> None:
    trainer = lia_trainer(generator_beta1=0.9)
    ratio = 4 / 5  # g_reg_every = 4: StyleGAN2's lazy correction c = k / (k + 1)
    assert trainer.optimizers["g_optim"].param_groups[0]["betas"][0] == pytest.approx(0.9**ratio)
    assert trainer.optimizers["d_optim"].param_groups[0]["betas"][0] == 0.0


def test_gan_starts_at_gan_start_step(pairs: TrainingPairs) -> None:
    trainer = lia_trainer(gan_start_step=2)
    batch = batch_of(pairs)
    seen = []
    for step in range(3):
        trainer.step = step
        seen.append(set(trainer.train_step(**batch)))
    assert seen[0] == seen[1] == {"l1", "vgg"}
    assert seen[2] == {"l1", "vgg", "gan", "dis"}
    assert {"d_real", "d_fake"} <= set(trainer.latest_health)


def test_r1_runs_on_real_images_only_and_every_d_reg_every_steps(pairs: TrainingPairs,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, torch.Tensor]] = []
    penalty = lia_training.r1_penalty

    def recording(discriminator: torch.nn.Module, real: torch.Tensor) -> torch.Tensor:
        calls.append((trainer.step, real.detach().clone()))
        return penalty(discriminator, real)

    monkeypatch.setattr(lia_training, "r1_penalty", recording)
    trainer = lia_trainer(r1_gamma=0.2, d_reg_every=3)
    batch = batch_of(pairs)
    for step in range(7):
        trainer.step = step
        trainer.train_step(**batch)
    assert [step for step, _ in calls] == [0, 3, 6]
    for _, real in calls:
        torch.testing.assert_close(real, to_signed_range(batch["driving"]))


def test_r1_penalty_is_the_squared_gradient_norm() -> None:
    linear = torch.nn.Linear(12, 1, bias=False)
    real = torch.randn(2, 3, 2, 2)
    expected = linear.weight.pow(2).sum()  # D(x) = w·x: ∇ = w for every sample
    torch.testing.assert_close(lia_training.r1_penalty(lambda x: linear(x.flatten(1)), real), expected)


def test_health_watch_warns_once_about_closed_masks_and_constant_output() -> None:
    watch = HealthWatch()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        watch.check(10, {"mask0": 0.4, "mask1": CLOSED_MASK / 2, "output_std": 0.2})
        watch.check(20, {"mask0": 0.4, "mask1": CLOSED_MASK / 3, "output_std": 0.0})
        watch.check(30, {"mask1": 0.0, "output_std": 0.0})
    messages = [str(warning.message) for warning in caught if warning.category is TrainingHealthWarning]
    assert len(messages) == 2
    assert "step 10" in messages[0] and "mask1" in messages[0] and "mask0" not in messages[0]
    assert "step 20" in messages[1] and "constant" in messages[1]


def test_training_logs_health_and_the_cli_shows_it(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "data")
    config = copy.deepcopy(tiny_lia_config())
    config["train_params"].update(batch_size=2, output_bias="data_mean", mask_bias_init=2.0, generator_beta1=0.9,
                                  gan_start_step=0)
    config_path = tmp_path / "lia.json"
    config_path.write_text(json.dumps(config))
    train(TrainOptions(model="lia", data=data, out=tmp_path / "run", config=str(config_path), max_steps=2,
                       perceptual="none", log_every=1))
    entries = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    levels = len(tiny_lia_config()["channels"]) - 1  # 8×8 up to the frame size
    assert set(entries[0]["health"]) == {*(f"mask{n}" for n in range(levels)), "grad_gen", "d_real", "d_fake",
                                         "output_std"}
    assert "health" not in entries[0]["losses"] and entries[0]["health"]["mask0"] > 0.5

    result = CliRunner().invoke(app, ["train", "--model", "lia", "--config", str(config_path), "--data", str(data),
                                      "--out", str(tmp_path / "cli"), "--max-steps", "1", "--perceptual", "none"])
    assert result.exit_code == 0, result.output
    assert "masks " in result.output and "|g| " in result.output



@pytest.mark.parametrize("family", ["fomm", "monkeynet"])
def test_keypoint_families_log_their_health_too(family: str, tmp_path: Path) -> None:
    config = tiny_fomm_config(generator_gan=1) if family == "fomm" else tiny_monkeynet_config()
    config_path = write_config(config, tmp_path / "config.yaml")
    train(TrainOptions(model=family, data=tiny_dataset(tmp_path / "data"), out=tmp_path / "run",
                       config=str(config_path), max_steps=1, perceptual="none", log_every=1))
    health = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])["health"]
    assert {"grad_gen", "d_real", "d_fake", "output_std"} <= set(health)
    assert health["grad_gen"] > 0 and health["output_std"] > 0
    occlusion = config["model_params"]["generator_params"].get("estimate_occlusion_map", False)
    assert ("mask0" in health) == (family == "fomm" and occlusion)
