"""Every shipped Monkey-Net config builds networks whose state dicts match the official ones key for key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from animcli.models import detect_family
from animcli.models.configs import resolve_config
from animcli.models.monkeynet import MonkeyNetModel, build_discriminator

OFFICIAL_CONFIGS = ["moving-gif", "shapes", "actions", "taichi", "nemo", "bair", "vox", "vox-full"]
FRAME_SIZES = {"moving-gif": 128, "vox": 256, "vox-full": 256}


def official_keys(reference_dir: Path, config: str, part: str) -> dict[str, tuple[int, ...]]:
    lines = (reference_dir / "monkeynet" / "keys" / f"keys-{config}-{part}.txt").read_text().splitlines()
    keys = {}
    for line in lines:
        name, shape = line.split()
        keys[name] = () if shape == "scalar" else tuple(int(n) for n in shape.split("x"))
    return keys


def our_keys(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(value.shape) for name, value in module.state_dict().items()}


@pytest.mark.parametrize("name", OFFICIAL_CONFIGS)
def test_state_dict_layout_matches_the_official_networks(name: str, reference_dir: Path) -> None:
    config = resolve_config(f"monkeynet-{name}")
    with torch.device("meta"):  # shapes only: the vox generator alone has 80M parameters
        model = MonkeyNetModel(config)
        discriminator = build_discriminator(config)
    summary = json.loads((reference_dir / "monkeynet" / "keys" / "param_summary.json").read_text())[name]
    for part, module in (("generator", model.generator), ("kp_detector", model.kp_detector),
                         ("discriminator", discriminator)):
        assert our_keys(module) == official_keys(reference_dir, name, part), f"{name} {part}"
        assert sum(p.numel() for p in module.parameters()) == summary[part]["num_params"], f"{name} {part}"


@pytest.mark.parametrize("name", OFFICIAL_CONFIGS)
def test_config_facts(name: str) -> None:
    config = resolve_config(f"monkeynet-{name}")
    assert detect_family(config=config) == "monkeynet"
    with torch.device("meta"):
        model = MonkeyNetModel(config)
    assert model.size == FRAME_SIZES.get(name, 64)
    # Only moving-gif's own transfer runs in absolute mode.
    assert model.default_mode == ("absolute" if name == "moving-gif" else "relative")
