"""The shipped `liax` registry entry through huggingface_hub's real code: pulled from a stand-in Hub on
127.0.0.1 (repo YaohuiW/LIA-X, file lia-x.pt holding the fixture checkpoint, which has the official key
layout), then used offline from the Hugging Face cache by `animcli edit` and `animcli animate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import test_liax_cli as liax_cli
import test_liax_parity as parity
from test_registry_hub import StandInHub, hub  # noqa: F401 - the stand-in Hub fixture
from typer.testing import CliRunner

from animcli.cli import app
from animcli.media import read_image
from animcli.weights.fetch import resolve_model_spec

fixtures_dir = parity.fixtures_dir
inputs = parity.inputs
pngs = liax_cli.pngs
runner = CliRunner()


def test_liax_is_pulled_from_the_hub_and_edits_offline(hub: StandInHub, tmp_path: Path,  # noqa: F811
                                                       fixtures_dir: Path, pngs: tuple[Path, Path],
                                                       monkeypatch) -> None:
    published = fixtures_dir / "checkpoint.pt"
    hub.add_file("YaohuiW/LIA-X", "lia-x.pt", published.read_bytes())

    pull = runner.invoke(app, ["models", "pull", "liax"])
    assert pull.exit_code == 0, pull.output
    cached = Path(pull.output.strip())
    assert cached.is_relative_to(tmp_path / "hf-home" / "hub" / "models--YaohuiW--LIA-X")
    assert cached.name == "lia-x.pt" and cached.read_bytes() == published.read_bytes()
    assert hub.count("GET", "/YaohuiW/LIA-X/resolve/main/lia-x.pt") == 1

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    requests_before = len(hub.requests)
    listing = {entry["name"]: entry for entry in json.loads(runner.invoke(app, ["models", "list", "--json"]).output)}
    assert listing["liax"]["family"] == "liax" and listing["liax"]["input_size"] == 512
    assert listing["liax"]["license"] == "CC-BY-NC-4.0" and listing["liax"]["status"] == "cached"
    assert resolve_model_spec("liax").default_mode == "relative"

    source, driving = pngs
    from_hub, from_file = tmp_path / "hub.png", tmp_path / "file.png"
    edited = runner.invoke(app, ["edit", str(source), "--edit", "yaw=-0.5", "-o", str(from_hub), "-q"])  # default
    assert edited.exit_code == 0, edited.output
    direct = runner.invoke(app, ["edit", str(source), "--edit", "yaw=-0.5", "-o", str(from_file), "-q",
                                 "--checkpoint", str(published)])
    assert direct.exit_code == 0, direct.output
    assert np.array_equal(read_image(from_hub), read_image(from_file))
    assert np.abs(read_image(from_hub).astype(np.int16) - read_image(source)).mean() > 1  # it did edit

    animated = runner.invoke(app, ["animate", str(source), str(driving), "--model", "liax", "-o",
                                   f"{tmp_path}/frames/", "-q"])
    assert animated.exit_code == 0, animated.output
    assert len(list((tmp_path / "frames").iterdir())) == len(list(driving.iterdir()))
    assert len(hub.requests) == requests_before  # offline: everything came from the cache
