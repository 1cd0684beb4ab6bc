"""Official pickles → safetensors (family + config in the header) → the official nested layout again."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from animcli.cli import app
from animcli.common.errors import ModelError
from animcli.weights.checkpoint_io import load_checkpoint_file
from animcli.weights.loading import load_model
from animcli.weights.publishing import convert_checkpoint
from animcli.weights.safetensors_io import load_safetensors_checkpoint, read_safetensors_header


@pytest.fixture()
def fomm_fixture(reference_dir: Path) -> tuple[Path, Path]:
    folder = reference_dir / "fomm" / "fixtures"
    return folder / "checkpoint.pth.tar", folder / "config.yaml"


def assert_same_state_dicts(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, tensor in expected.items():
        assert actual[key].dtype == tensor.dtype and actual[key].shape == tensor.shape, key
        assert torch.equal(actual[key], tensor), key


def test_fomm_checkpoint_round_trips_with_identical_tensors(tmp_path: Path, fomm_fixture) -> None:
    checkpoint_path, config_path = fomm_fixture
    output = tmp_path / "fomm.safetensors"

    header = convert_checkpoint(checkpoint_path, output, config_path)
    original = load_checkpoint_file(checkpoint_path)
    converted = load_safetensors_checkpoint(output)

    assert header.family == "fomm"
    assert set(converted) == {"generator", "kp_detector", "discriminator", "config"}
    for entry in ("generator", "kp_detector", "discriminator"):
        assert_same_state_dicts(converted[entry], original[entry])
    assert converted["config"] == yaml.safe_load(config_path.read_text())
    assert read_safetensors_header(output).source_sha256 is not None


def test_lia_checkpoint_with_namespace_converts_and_drops_the_arguments(tmp_path: Path, reference_dir: Path) -> None:
    folder = reference_dir / "lia" / "fixtures"
    output = tmp_path / "lia.safetensors"

    header = convert_checkpoint(folder / "checkpoint_gen_args.pt", output, folder / "config.json")
    converted = load_checkpoint_file(output)

    assert header.family == "lia"
    assert set(converted) == {"gen", "config"}
    assert_same_state_dicts(converted["gen"], load_checkpoint_file(folder / "checkpoint_gen_args.pt")["gen"])


def test_converted_file_loads_without_a_config_and_matches_the_pickle(tmp_path: Path, fomm_fixture) -> None:
    checkpoint_path, config_path = fomm_fixture
    output = tmp_path / "fomm.safetensors"
    convert_checkpoint(checkpoint_path, output, config_path)

    from_pickle = load_model(checkpoint_path, config_path, device="cpu")
    from_safetensors = load_model(output, device="cpu")

    assert_same_state_dicts(from_safetensors.state_dict(), from_pickle.state_dict())


def test_cli_convert_writes_the_file_and_reports_it(tmp_path: Path, fomm_fixture) -> None:
    checkpoint_path, config_path = fomm_fixture
    output = tmp_path / "out.safetensors"

    result = CliRunner().invoke(app, ["models", "convert", str(checkpoint_path), str(output),
                                      "--config", str(config_path)])

    assert result.exit_code == 0, result.output
    assert "fomm, config included" in result.output
    assert read_safetensors_header(output).family == "fomm"


def test_failed_conversion_leaves_an_existing_output_untouched(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pth.tar"
    broken.write_bytes(b"truncated download")
    output = tmp_path / "model.safetensors"
    output.write_bytes(b"previous result")

    result = CliRunner().invoke(app, ["models", "convert", str(broken), str(output), "--config", "fomm-vox-256"])

    assert result.exit_code == 2 and "not a readable PyTorch checkpoint" in result.output
    assert output.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.pth.tar", "model.safetensors"]


def test_output_must_be_a_safetensors_file(tmp_path: Path, fomm_fixture) -> None:
    with pytest.raises(ModelError, match="must end in .safetensors"):
        convert_checkpoint(fomm_fixture[0], tmp_path / "model.pt", fomm_fixture[1])


def test_trust_pickle_is_the_only_way_to_convert_a_pickle_with_objects(tmp_path: Path, fomm_fixture) -> None:
    checkpoint = load_checkpoint_file(fomm_fixture[0])
    checkpoint["args"] = argparse.ArgumentParser  # a class: refused by the weights-only unpickler
    with_objects = tmp_path / "with-objects.pth.tar"
    torch.save(checkpoint, with_objects)
    output = tmp_path / "trusted.safetensors"

    with pytest.raises(ModelError, match="refusing to load"):
        convert_checkpoint(with_objects, output, fomm_fixture[1])
    assert not output.exists()

    convert_checkpoint(with_objects, output, fomm_fixture[1], trust_pickle=True)
    assert_same_state_dicts(load_checkpoint_file(output)["generator"], checkpoint["generator"])


def test_convert_finds_the_config_animate_would_load_with(tmp_path: Path, fomm_fixture) -> None:
    checkpoint_path, config_path = fomm_fixture
    run = tmp_path / "run"  # a training run folder: the config beside the checkpoint
    run.mkdir()
    (run / "last.pth.tar").write_bytes(checkpoint_path.read_bytes())
    (run / "config.yaml").write_bytes(config_path.read_bytes())

    result = CliRunner().invoke(app, ["models", "convert", str(run / "last.pth.tar"),
                                      str(tmp_path / "out.safetensors")])

    assert result.exit_code == 0, result.output
    assert "fomm, config included" in result.output
    assert read_safetensors_header(tmp_path / "out.safetensors").config == yaml.safe_load(config_path.read_text())
