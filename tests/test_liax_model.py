"""LIA-X construction: the published architecture from the official key list, configs in their three forms,
claiming its own checkpoints and configs only, one-line refusals of checkpoints that do not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from animcli.common.errors import ModelError
from animcli.models import detect_family
from animcli.models.configs import resolve_config
from animcli.models.liax import LiaxArchitecture, LiaxModel
from animcli.weights.checkpoint_io import load_checkpoint_file
from animcli.weights.loading import load_model

PUBLISHED_PARAMETERS = 910_571_751


@pytest.fixture(scope="module")
def published_layout(reference_dir: Path) -> dict[str, torch.Tensor]:
    """lia-x.pt's entries with their shapes (on the meta device: no memory)."""
    layout = {}
    for line in (reference_dir / "liax" / "keys-liax-generator.txt").read_text().splitlines():
        name, shape = line.split()
        layout[name] = torch.empty([int(n) for n in shape.split("x")], device="meta")
    return layout


def test_published_architecture_is_read_off_the_official_layout(published_layout: dict[str, torch.Tensor]) -> None:
    config = LiaxModel.infer_config(published_layout)
    shipped = resolve_config("liax-512")
    assert {key: config[key] for key in shipped if key != "family"} == {k: v for k, v in shipped.items()
                                                                         if k != "family"}
    with torch.device("meta"):
        model = LiaxModel(shipped)
    assert model.size == 512 and model.default_mode == "relative"
    assert set(model.gen.state_dict()) == set(published_layout)
    assert all(model.gen.state_dict()[k].shape == v.shape for k, v in published_layout.items())
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMETERS
    # The official inference configs (size, motion_dim, scale) describe the same model.
    assert LiaxArchitecture.from_config({"size": 512, "motion_dim": 40, "scale": 2}) == model.arch


def test_configs_and_checkpoints_are_claimed_by_their_family(fixtures_lia: Path, published_layout) -> None:
    assert detect_family(config=resolve_config("liax-512")) == "liax"
    assert detect_family(config={"size": 512, "motion_dim": 40, "scale": 2}) == "liax"
    assert detect_family(config=resolve_config("lia-vox")) == "lia"
    assert detect_family(checkpoint=published_layout) == "liax"
    assert detect_family(checkpoint=load_checkpoint_file(fixtures_lia / "checkpoint.pt")) == "lia"


@pytest.fixture(scope="module")
def fixtures_lia(reference_dir: Path) -> Path:
    return reference_dir / "lia" / "fixtures"


@pytest.mark.parametrize(("change", "message"), [
    ({"encoder_widths": [32, 32, 48, 64]}, "multiples of 32"),
    ({"decoder_levels": ["_512", "2"]}, "encoder feature maps but 2 decoder levels"),
    ({"encoder_blocks": ["block2", "block4", "block3"]}, "official block names in order"),
    ({"encoder_blocks": ["block2", "block3"], "decoder_levels": ["_512", "2", "3"]}, "lacks block4"),
    ({"style_dim": 32}, "at least motion_dim"),
    ({"size": 256}, "its levels make a 512 px model"),
    ({"motion_dim": "forty"}, "malformed"),
])
def test_bad_configs_are_refused_in_one_line(change: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        LiaxModel({**resolve_config("liax-512"), **change})


def test_misfit_checkpoints_are_refused_in_one_line(reference_dir: Path, tmp_path: Path) -> None:
    fixtures = reference_dir / "liax" / "fixtures"
    state = load_checkpoint_file(fixtures / "checkpoint.pt")
    reduced_config = LiaxModel.infer_config(state)
    for broken, message in (
        ({k: v for k, v in state.items() if k != "dec.flow7.bias"}, r"1 missing \(e\.g\. dec\.flow7\.bias\)"),
        ({**state, "dec.direction.weight": torch.zeros(64, 20)}, r"1 shape mismatch \(e\.g\. dec\.direction\.weight\)"),
    ):
        with pytest.raises(ModelError, match=message) as raised:
            LiaxModel.from_checkpoint(reduced_config, broken)
        assert "\n" not in str(raised.value)
    # The published config does not fit the reduced fixture file.
    path = tmp_path / "lia-x.pt"
    torch.save(state, path)
    with pytest.raises(ModelError, match="does not fit the config"):
        load_model(path, "liax-512", device="cpu")
    # A LIA checkpoint given a LIA-X config is refused before anything is built.
    with pytest.raises(ModelError, match="is not a liax checkpoint"):
        load_model(reference_dir / "lia" / "fixtures" / "checkpoint.pt", "liax-512", device="cpu")


def mapped_ranges(path: Path) -> list[tuple[int, int]]:
    """Address ranges where this process has ``path`` memory-mapped (Linux)."""
    ranges = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5] == str(path.resolve()):
            start, end = (int(address, 16) for address in fields[0].split("-"))
            ranges.append((start, end))
    return ranges


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux's /proc/self/maps")
def test_loaded_weights_are_the_files_memory_mapped_tensors(reference_dir: Path) -> None:
    path = reference_dir / "liax" / "fixtures" / "checkpoint.pt"
    model = load_model(path, device="cpu")
    # The model's parameters live in the file's mapping: taken over, not copied into initialised storage.
    for parameter in (model.gen.dec.direction.weight, model.gen.enc.enc_2r.block1[0].weight):
        address = parameter.data_ptr()
        assert any(start <= address < end for start, end in mapped_ranges(path))


def test_liax_cannot_be_trained_and_says_so() -> None:
    from animcli.models import get_family

    with pytest.raises(ModelError, match="cannot train liax models"):
        get_family("liax").trainer_class()


def test_dictionary_basis_is_computed_once_per_set_of_weights(reference_dir: Path) -> None:
    model = load_model(reference_dir / "liax" / "fixtures" / "checkpoint.pt", device="cpu")
    first = model.dictionary_basis()
    assert model.dictionary_basis() is first  # cached
    q, _ = torch.linalg.qr(model.gen.dec.direction.weight + 1e-8)
    assert torch.equal(first, q)
    with torch.no_grad():
        model.gen.dec.direction.weight.mul_(2)  # new weights: a new basis
    assert model.dictionary_basis() is not first
