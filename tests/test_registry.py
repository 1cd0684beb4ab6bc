"""The registry data, name lookup, user overrides and `models list/import` (no network involved)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from animcli.cli import app
from animcli.common.errors import RegistryError
from animcli.common.files import sha256_of_file
from animcli.models import FAMILIES, family_class
from animcli.models.configs import shipped_config_names
from animcli.weights.fetch import resolve_model_spec
from animcli.weights.hub import HubFile, parse_hub_uri
from animcli.weights.registry import LocalFile, dump_registry, load_registry, tomllib

PUBLISHED_FOMM = ["vox", "vox-adv", "taichi", "taichi-adv", "mgif", "bair", "fashion", "nemo"]


@pytest.fixture(autouse=True)
def user_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own (initially absent) user registry file, never the real ~/.config one."""
    path = tmp_path / "config" / "registry.toml"
    monkeypatch.setenv("ANIMCLI_REGISTRY", str(path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return path


def test_shipped_registry_names_every_published_checkpoint() -> None:
    registry = load_registry()

    expected = {f"fomm-{name}" for name in PUBLISHED_FOMM} | {"lia-vox", "lia-taichi", "lia-ted", "demo"} | {
        f"tpsmm-{name}" for name in ("vox", "taichi", "mgif", "ted")}
    assert expected <= registry.keys()
    assert any(name.startswith("monkeynet-") for name in registry)
    for entry in registry.values():
        if entry.name == "demo":
            continue
        assert entry.family in FAMILIES and entry.name.startswith(entry.family)
        # LIA-X's plain state dict determines its architecture; the others name their official config.
        assert entry.config in shipped_config_names() or (entry.family == "liax" and entry.config is None), entry.name
        assert entry.input_size and entry.default_mode in family_class(entry.family).transfer_modes and entry.license


def test_fomm_entries_point_at_the_hub_and_the_others_at_their_official_pages() -> None:
    registry = load_registry()

    assert registry["fomm-vox"].sources == (HubFile("MCMLXXXVII/thinplatesv1", "vox-cpk.pth.tar"),)
    assert [source.repo_type for source in registry["fomm-vox-adv"].sources] == ["model", "space"]
    assert registry["fomm-taichi"].default_mode == "absolute" and registry["fomm-vox"].default_mode == "relative"
    for name in ("lia-vox", "lia-ted", "monkeynet-moving-gif"):
        assert registry[name].sources == () and registry[name].download_page.startswith("https://github.com/")
    demo_file = Path(__file__).parents[1] / "checkpoints" / "demo" / "demo.safetensors"
    (demo_source,) = registry["demo"].sources
    assert isinstance(demo_source, LocalFile) and demo_source.path == demo_file
    # The recorded size and hash are the shipped file's own.
    assert demo_source.file_size == demo_file.stat().st_size
    assert demo_source.sha256 == hashlib.sha256(demo_file.read_bytes()).hexdigest()


def test_unknown_name_suggests_the_closest_one() -> None:
    with pytest.raises(RegistryError, match=r"^unknown model 'fomm-vx'; did you mean fomm-vox\?$"):
        resolve_model_spec("fomm-vx")


def test_unknown_name_on_the_command_line_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(app, ["models", "pull", "lia-voks"])

    assert result.exit_code == 2
    assert result.output == "animcli: error: unknown model 'lia-voks'; did you mean lia-vox?\n"


def test_model_without_hub_copy_explains_where_to_get_it() -> None:
    with pytest.raises(RegistryError) as error:
        resolve_model_spec("lia-vox")

    assert "https://github.com/wyhsirius/LIA" in str(error.value)
    assert "animcli models import lia-vox PATH" in str(error.value)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("hf://org/repo/vox.pth.tar", HubFile("org/repo", "vox.pth.tar")),
        ("hf://org/repo/weights/vox.pth.tar@v1.0", HubFile("org/repo", "weights/vox.pth.tar", revision="v1.0")),
        ("hf://spaces/org/app/weights/x.pt", HubFile("org/app", "weights/x.pt", repo_type="space")),
        ("hf://datasets/org/data/x.pt@refs/pr/1", HubFile("org/data", "x.pt", "refs/pr/1", "dataset")),
    ],
)
def test_hub_addresses_parse(uri: str, expected: HubFile) -> None:
    assert parse_hub_uri(uri) == expected
    assert expected.uri == uri


@pytest.mark.parametrize("uri", ["hf://org/repo", "hf://org//x.pt", "hf://org/repo/x.pt@"])
def test_malformed_hub_addresses_are_refused(uri: str) -> None:
    with pytest.raises(RegistryError, match="expected hf://ORG/REPO/FILENAME"):
        parse_hub_uri(uri)


def test_user_file_adds_entries_and_overrides_fields(user_registry: Path, tmp_path: Path) -> None:
    user_registry.parent.mkdir(parents=True)
    (user_registry.parent / "mine.pt").write_bytes(b"weights")
    user_registry.write_text(
        '[models.fomm-vox]\nlicense = "my-terms"\n\n'
        '[models.mine]\nfamily = "fomm"\nconfig = "configs/mine.yaml"\nsources = [{ path = "mine.pt" }]\n'
    )

    registry = load_registry()

    assert registry["fomm-vox"].license == "my-terms"
    assert registry["fomm-vox"].config == "fomm-vox-256"  # fields the user did not set stay shipped
    assert registry["mine"].config == user_registry.parent / "configs" / "mine.yaml"
    resolved = resolve_model_spec("mine")
    assert resolved.checkpoint == user_registry.parent / "mine.pt" and resolved.family == "fomm"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[models.x]\nfamly = 'fomm'\n", "unknown field 'famly'"),
        ("[models.x]\ninput_size = '256'\n", "input_size must be a int"),
        ("[models.x]\ndefault_mode = 'sideways'\n", "default_mode must be one of relative, absolute"),
        ("[models.x]\nsources = [{ filename = 'a.pt' }]\n", "needs either repo_id"),
        ("[models.x]\nsources = [{ path = 'a.pt', sha256 = 'abc' }]\n", "sha256 must be 64"),
        ("[models.x\n", "is not valid TOML"),
        ("name = 'x'\n", "must hold only"),
    ],
)
def test_bad_user_file_is_reported_in_one_line(user_registry: Path, content: str, message: str) -> None:
    user_registry.parent.mkdir(parents=True)
    user_registry.write_text(content)

    with pytest.raises(RegistryError, match=message) as error:
        load_registry()
    assert str(user_registry) in str(error.value) and "\n" not in str(error.value)


def test_registry_writer_round_trips_through_tomllib() -> None:
    models = {
        "odd name": {"description": 'quote " backslash \\ tab \t newline \n é 🙂', "input_size": 64},
        "plain": {"sources": [{"path": "/x/y.pt", "file_size": 3, "sha256": "a" * 64}], "license": "MIT"},
    }

    assert tomllib.loads(dump_registry(models)) == {"models": models}


def test_local_paths_resolve_as_themselves(tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.pth.tar"
    checkpoint.write_bytes(b"x")

    assert resolve_model_spec(str(checkpoint)).checkpoint == checkpoint
    with pytest.raises(RegistryError, match="does not exist"):
        resolve_model_spec(str(tmp_path / "missing.pth.tar"))


def test_local_file_with_wrong_digest_is_refused_but_not_deleted(user_registry: Path, tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"tampered")
    user_registry.parent.mkdir(parents=True)
    user_registry.write_text(f'[models.mine]\nsources = [{{ path = "{checkpoint}", sha256 = "{"0" * 64}" }}]\n')

    with pytest.raises(RegistryError, match="refused: its sha256 is"):
        resolve_model_spec("mine")
    assert checkpoint.exists()


def test_list_shows_every_entry_without_network(user_registry: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: any request would fail
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"12345")
    user_registry.parent.mkdir(parents=True)
    user_registry.write_text(f'[models.mine]\nfamily = "fomm"\nsources = [{{ path = "{checkpoint}" }}]\n')

    result = CliRunner().invoke(app, ["models", "list", "--json"])

    assert result.exit_code == 0, result.output
    listings = {item["name"]: item for item in json.loads(result.output)}
    assert listings.keys() == load_registry().keys()
    assert listings["mine"] | {"path": None} == {
        "name": "mine", "family": "fomm", "input_size": None, "file_size": 5, "file_size_from": "local file",
        "license": None, "status": "local", "path": None, "description": None, "source": str(checkpoint),
        "sources": [{"path": str(checkpoint), "file_size": None, "sha256": None}], "download_page": None,
    }
    assert listings["fomm-vox"]["status"] == "downloadable"
    assert listings["fomm-vox"]["file_size"] is None  # the Hub cannot be asked: unknown, never guessed
    assert listings["lia-vox"]["status"] == "manual"
    listed = CliRunner().invoke(app, ["models", "list"])
    table = listed.stdout.splitlines()
    assert table[0].split() == ["name", "family", "input", "download", "license", "status", "source"]
    assert len(table) == len(listings) + 1
    assert "download '-': size unknown" in listed.stderr  # said once, off the table scripts read


def test_import_registers_a_checkpoint_that_loads(user_registry: Path, reference_dir: Path, tmp_path: Path) -> None:
    # Reached through a symlink, as with a symlinked ../shared: the registry records the file itself.
    (tmp_path / "linked").symlink_to(reference_dir / "fomm" / "fixtures", target_is_directory=True)
    folder = tmp_path / "linked"
    real_checkpoint = (folder / "checkpoint.pth.tar").resolve()

    result = CliRunner().invoke(app, ["models", "import", "small-fomm", str(folder / "checkpoint.pth.tar"),
                                      "--config", str(folder / "config.yaml")])

    assert result.exit_code == 0, result.output
    entry = tomllib.loads(user_registry.read_text())["models"]["small-fomm"]
    assert entry["sources"] == [{
        "path": str(real_checkpoint),
        "file_size": real_checkpoint.stat().st_size,
        "sha256": sha256_of_file(real_checkpoint),
    }]
    assert Path(entry["config"]) == (folder / "config.yaml").resolve()
    resolved = resolve_model_spec("small-fomm")
    assert (resolved.family, resolved.size, resolved.default_mode) == ("fomm", 128, "relative")
    assert resolved.config == (folder / "config.yaml").resolve()


@pytest.mark.parametrize(
    ("name", "config", "message"),
    [
        ("fomm-vox", None, "cannot import .* as 'fomm-vox'"),  # the full-size vox config does not fit
        ("fomm-vox", "config.yaml", "builds a 128px model, but 'fomm-vox' is a 256px model"),
        ("lia-vox", "config.yaml", "is a fomm checkpoint, but 'lia-vox' is a lia model"),
    ],
)
def test_import_refuses_a_file_of_the_wrong_model(
    user_registry: Path, reference_dir: Path, name: str, config: str | None, message: str
) -> None:
    folder = reference_dir / "fomm" / "fixtures"
    arguments = ["models", "import", name, str(folder / "checkpoint.pth.tar")]
    arguments += ["--config", str(folder / config)] if config else []

    result = CliRunner().invoke(app, arguments)

    assert result.exit_code == 2
    assert result.output.startswith("animcli: error: ") and result.output.count("\n") == 1
    assert re.search(message, result.output), result.output
    assert not user_registry.exists()
