"""The shipped TPSMM registry entries through huggingface_hub's real code: pulled from a stand-in Hub on
127.0.0.1 (the mirrors' repositories and file names, holding the fixture checkpoint, which has the official key
layout), then animated offline from the Hugging Face cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import test_tpsmm_cli as tpsmm_cli
import test_tpsmm_parity as parity
from test_registry_hub import StandInHub, hub  # noqa: F401 - the stand-in Hub fixture
from typer.testing import CliRunner

from animcli.cli import app

fixtures = parity.fixtures
inputs = parity.inputs
pngs = tpsmm_cli.pngs
runner = CliRunner()


@pytest.mark.parametrize(("name", "repo_id", "filename"), [
    ("tpsmm-vox", "vessl/thin-plate-spline-motion-model", "vox.pth.tar"),
    ("tpsmm-taichi", "MAGIG/thin-plate-spline-motion-model", "256/taichi.pth.tar"),
])
def test_tpsmm_is_pulled_from_its_mirror_and_animates_offline(hub: StandInHub, tmp_path: Path,  # noqa: F811
                                                              fixtures: Path, pngs: tuple[Path, Path], monkeypatch,
                                                              name: str, repo_id: str, filename: str) -> None:
    published = fixtures / "checkpoint.pth.tar"
    hub.add_file(repo_id, filename, published.read_bytes())
    pull = runner.invoke(app, ["models", "pull", name])
    assert pull.exit_code == 0, pull.output
    cached = Path(pull.output.strip())
    assert cached.is_relative_to(tmp_path / "hf-home" / "hub" / f"models--{repo_id.replace('/', '--')}")
    assert cached.read_bytes() == published.read_bytes()

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    requests_before = len(hub.requests)
    listing = {entry["name"]: entry for entry in json.loads(runner.invoke(app, ["models", "list", "--json"]).output)}
    assert listing[name]["family"] == "tpsmm" and listing[name]["license"] == "MIT"
    assert listing[name]["status"] == "cached"
    source, driving = pngs
    # The fixture's reduced widths need the fixture config; the registry entry supplies the file.
    common = [str(source), str(driving), "--config", str(fixtures / "config.yaml"), "--size", "96", "--mode", "avd",
              "--backend", "torch", "--threads", "1", "-q"]
    from_hub = runner.invoke(app, ["animate", *common, "--model", name, "-o", f"{tmp_path}/hub/"])
    assert from_hub.exit_code == 0, from_hub.output
    from_file = runner.invoke(app, ["animate", *common, "--checkpoint", str(published), "-o", f"{tmp_path}/file/"])
    assert from_file.exit_code == 0, from_file.output
    assert np.array_equal(tpsmm_cli.read_frames(tmp_path / "hub"), tpsmm_cli.read_frames(tmp_path / "file"))
    assert len(hub.requests) == requests_before  # offline: everything came from the cache
