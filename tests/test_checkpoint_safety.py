"""Pickle checkpoints are read with torch.load(weights_only=True): code hidden in a pickle never runs."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from animcli.cli import app
from animcli.common.errors import ModelError
from animcli.weights.checkpoint_io import load_checkpoint_file


class FileDropper:
    """Unpickling this calls ``open(marker, "w")``: the file appearing proves the pickle's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def write_malicious_checkpoint(path: Path, marker: Path) -> Path:
    checkpoint = {"generator": {"first.conv.weight": torch.zeros(2, 3)}, "payload": FileDropper(marker)}
    torch.save(checkpoint, path)
    return path


def test_malicious_checkpoint_is_refused_and_its_code_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "created-by-unpickling"
    checkpoint = write_malicious_checkpoint(tmp_path / "evil.pth.tar", marker)

    with pytest.raises(ModelError) as refused:
        load_checkpoint_file(checkpoint)

    message = str(refused.value)
    assert "refusing to load" in message and "open" in message
    assert "animcli models convert" in message and "--trust-pickle" in message
    assert "\n" not in message
    assert not marker.exists()


@pytest.mark.parametrize("command", [["models", "convert"], ["models", "import", "my-model"]])
def test_cli_refuses_malicious_checkpoint_in_one_line(tmp_path: Path, command: list[str], monkeypatch) -> None:
    monkeypatch.setenv("ANIMCLI_REGISTRY", str(tmp_path / "user-registry.toml"))
    marker = tmp_path / "created-by-unpickling"
    checkpoint = write_malicious_checkpoint(tmp_path / "evil.pth.tar", marker)
    output = tmp_path / "evil.safetensors"
    arguments = [*command, str(checkpoint)] + ([str(output)] if command[-1] == "convert" else [])
    arguments += ["--config", "fomm-vox-256"]

    result = CliRunner().invoke(app, arguments)

    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "refusing to load" in result.output
    assert not marker.exists()
    assert not output.exists()
    assert not (tmp_path / "user-registry.toml").exists()


def test_lia_checkpoint_with_training_arguments_loads(reference_dir: Path) -> None:
    checkpoint = load_checkpoint_file(reference_dir / "lia" / "fixtures" / "checkpoint_gen_args.pt")

    assert isinstance(checkpoint["args"], argparse.Namespace)
    assert all(isinstance(tensor, torch.Tensor) for tensor in checkpoint["gen"].values())


def test_other_classes_stay_refused_even_next_to_a_namespace(tmp_path: Path) -> None:
    path = tmp_path / "args-and-path.pt"
    torch.save({"gen": {"w": torch.ones(1)}, "args": argparse.Namespace(size=256), "out": Path("/tmp")}, path)

    with pytest.raises(ModelError, match="refusing to load .*PosixPath"):
        load_checkpoint_file(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"not a checkpoint at all", "not a readable PyTorch checkpoint"), (None, "does not hold a dict")],
)
def test_unusable_files_give_one_line_reasons(tmp_path: Path, content: bytes | None, reason: str) -> None:
    path = tmp_path / "checkpoint.pt"
    if content is None:
        torch.save([torch.zeros(1)], path)
    else:
        path.write_bytes(content)

    with pytest.raises(ModelError, match=reason):
        load_checkpoint_file(path)


def test_legacy_format_checkpoint_with_payload_is_refused(tmp_path: Path) -> None:
    """Checkpoints from torch < 1.6 are plain pickles, not zip files: the same refusal applies."""
    marker = tmp_path / "created-by-unpickling"
    path = tmp_path / "legacy.pth"
    torch.save({"payload": FileDropper(marker)}, path, _use_new_zipfile_serialization=False)

    with pytest.raises(ModelError, match="refusing to load"):
        load_checkpoint_file(path)
    assert not marker.exists()
