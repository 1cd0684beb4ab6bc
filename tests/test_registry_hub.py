"""Registry ↔ Hugging Face Hub through huggingface_hub's real code, against a stand-in Hub on 127.0.0.1.

The stand-in answers exactly the endpoints huggingface_hub 2.x calls: HEAD/GET ``…/resolve/{rev}/{file}``
(with X-Repo-Commit, ETag / X-Linked-Etag, X-Linked-Size, Content-Length) for downloads, and
``/api/repos/create``, ``/api/validate-yaml``, ``…/preupload/{rev}``, ``…/commit/{rev}`` for uploads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from animcli.cli import app
from animcli.common.errors import RegistryError
from animcli.common.files import sha256_of_file
from animcli.weights.checkpoint_io import load_checkpoint_file
from animcli.weights.fetch import list_models, resolve_model_spec

REPO_TYPE_PREFIXES = {"spaces": "space", "datasets": "dataset"}


@dataclass
class Repo:
    files: dict[str, bytes] = field(default_factory=dict)
    commit: str = "0" * 40

    def commit_files(self, files: dict[str, bytes]) -> str:
        self.files.update(files)
        self.commit = hashlib.sha1(repr(sorted(self.files.items())).encode()).hexdigest()
        return self.commit


class StandInHub:
    """Repositories in memory, and a log of every request the client made."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.answers_like_a_hub = True
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_file(self, repo_id: str, filename: str, content: bytes, repo_type: str = "model") -> Repo:
        repo = self.repos.setdefault((repo_type, repo_id), Repo())
        repo.commit_files({filename: content})
        return repo

    def count(self, method: str, path_end: str) -> int:
        return sum(1 for m, path in self.requests if m == method and path.endswith(path_end))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                hub.requests.append(("HEAD", self.path))
                self._resolve(send_body=False)

            def do_GET(self) -> None:
                hub.requests.append(("GET", self.path))
                self._resolve(send_body=True)

            def do_POST(self) -> None:
                hub.requests.append(("POST", self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._api(self.path.split("?")[0], body)

            def _reply(self, status: int, headers: dict[str, str], body: bytes = b"", send_body: bool = True):
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def _json(self, payload: object, status: int = 200) -> None:
                self._reply(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())

            def _resolve(self, send_body: bool) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                repo_type = REPO_TYPE_PREFIXES.get(parts[0], "model")
                parts = parts[1:] if parts[0] in REPO_TYPE_PREFIXES else parts
                if len(parts) < 5 or parts[2] != "resolve":
                    return self._reply(404, {}, send_body=send_body)
                repo = hub.repos.get((repo_type, f"{parts[0]}/{parts[1]}"))
                if repo is None:
                    return self._reply(404, {"X-Error-Code": "RepoNotFound"}, send_body=send_body)
                if parts[3] not in ("main", repo.commit):
                    return self._reply(404, {"X-Error-Code": "RevisionNotFound"}, send_body=send_body)
                content = repo.files.get("/".join(parts[4:]))
                if content is None:
                    headers = {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit}
                    return self._reply(404, headers, send_body=send_body)
                if not hub.answers_like_a_hub:  # e.g. a captive portal: 200 without any Hub header
                    return self._reply(200, {}, content, send_body=send_body)
                etag = hashlib.sha256(content).hexdigest()
                headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{etag}"', "X-Linked-Etag": f'"{etag}"',
                           "X-Linked-Size": str(len(content))}
                self._reply(200, headers, content, send_body=send_body)

            def _api(self, path: str, body: bytes) -> None:
                if path == "/api/repos/create":
                    request = json.loads(body)
                    repo_id = f"{request['organization']}/{request['name']}"
                    hub.repos.setdefault((request.get("type", "model"), repo_id), Repo())
                    return self._json({"url": f"{hub.url}/{repo_id}"})
                if path == "/api/validate-yaml":
                    return self._json({})
                parts = path.strip("/").split("/")  # api, models, ORG, NAME, preupload|commit, REVISION
                repo = hub.repos.get(("model", f"{parts[2]}/{parts[3]}"))
                if repo is None:
                    return self._json({"error": "Repository not found"}, 404)
                if parts[4] == "preupload":
                    files = json.loads(body)["files"]
                    return self._json({"files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                    ]})
                operations = [json.loads(line) for line in body.splitlines() if line]
                added = {op["value"]["path"]: base64.b64decode(op["value"]["content"])
                         for op in operations if op["key"] == "file"}
                commit = repo.commit_files(added)
                self._json({"commitUrl": f"{hub.url}/{parts[2]}/{parts[3]}/commit/{commit}",
                            "commitOid": commit, "pullRequestUrl": None})

        return Handler


@pytest.fixture()
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInHub]:
    stand_in = StandInHub()
    thread = threading.Thread(target=stand_in.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", stand_in.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_stand_in_token")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("ANIMCLI_REGISTRY", str(tmp_path / "user-registry.toml"))
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


@pytest.fixture()
def fomm_fixture(reference_dir: Path) -> tuple[Path, Path]:
    folder = reference_dir / "fomm" / "fixtures"
    return folder / "checkpoint.pth.tar", folder / "config.yaml"


def register(tmp_path: Path, name: str, text: str) -> None:
    with (tmp_path / "user-registry.toml").open("a") as registry:
        registry.write(f"[models.{name}]\n{text}\n")


def hub_entry(repo_id: str, filename: str, extra: str = "", config: Path | None = None) -> str:
    config_line = f'config = "{config}"\n' if config else ""
    return f'{config_line}sources = [{{ repo_id = "{repo_id}", filename = "{filename}"{extra} }}]'


def test_pull_downloads_once_then_serves_from_cache_and_offline(hub: StandInHub, tmp_path: Path, monkeypatch) -> None:
    content = b"checkpoint bytes " * 1000
    hub.add_file("org/weights", "model.pth.tar", content)
    register(tmp_path, "mine", hub_entry("org/weights", "model.pth.tar",
                                         f', sha256 = "{hashlib.sha256(content).hexdigest()}"'))
    assert [m.status for m in list_models() if m.name == "mine"] == ["downloadable"]

    first = CliRunner().invoke(app, ["models", "pull", "mine"])
    second = resolve_model_spec("mine")

    assert first.exit_code == 0, first.output
    assert Path(first.output.strip()) == second.checkpoint
    assert second.checkpoint.read_bytes() == content
    assert second.checkpoint.is_relative_to(tmp_path / "hf-home" / "hub" / "models--org--weights")
    assert hub.count("GET", "/model.pth.tar") == 1  # the second call only revalidated (HEAD)
    assert [(m.status, m.file_size) for m in list_models() if m.name == "mine"] == [("cached", len(content))]

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    requests_before = len(hub.requests)
    assert resolve_model_spec("mine").checkpoint == second.checkpoint
    assert len(hub.requests) == requests_before


@pytest.mark.parametrize("recorded", ["sha256", "file_size"])
def test_download_that_does_not_match_the_registry_is_refused_and_removed(
    hub: StandInHub, tmp_path: Path, recorded: str
) -> None:
    genuine = b"the published checkpoint"
    hub.add_file("org/weights", "model.pth.tar", b"a tampered checkpoint!!")
    expected = f'"{hashlib.sha256(genuine).hexdigest()}"' if recorded == "sha256" else str(len(genuine))
    register(tmp_path, "mine", hub_entry("org/weights", "model.pth.tar", f", {recorded} = {expected}"))

    with pytest.raises(RegistryError, match="refused: its .* the registry records .*removed from the cache"):
        resolve_model_spec("mine")

    cache = tmp_path / "hf-home" / "hub" / "models--org--weights"
    assert not [p for p in (cache / "blobs").iterdir()]
    assert not list((cache / "snapshots").rglob("model.pth.tar"))
    assert [m.status for m in list_models() if m.name == "mine"] == ["downloadable"]


def test_a_cached_file_altered_in_place_is_refused_and_never_deleted(hub: StandInHub, tmp_path: Path,
                                                                     monkeypatch) -> None:
    """No hash in the registry: the Hub named the blob by its sha256 at download, and that is what is checked —
    once (remembered by size, mtime and inode), and again when the file changes. A blob this run did not download
    is never deleted (issue 28)."""
    import animcli.common.files

    content = b"checkpoint bytes " * 1000
    hub.add_file("org/weights", "model.pth.tar", content)
    register(tmp_path, "mine", hub_entry("org/weights", "model.pth.tar"))
    blob = resolve_model_spec("mine").checkpoint.resolve()
    assert blob.name == hashlib.sha256(content).hexdigest()

    hashed = []
    real_hash = animcli.common.files.sha256_of_file
    monkeypatch.setattr(animcli.common.files, "sha256_of_file", lambda path: hashed.append(path) or real_hash(path))
    assert resolve_model_spec("mine").checkpoint.resolve() == blob and hashed == []  # remembered: nothing hashed

    altered = bytearray(content)
    altered[100] ^= 0xFF
    blob.write_bytes(bytes(altered))  # same size, changed in place
    for offline in ("0", "1"):
        monkeypatch.setenv("HF_HUB_OFFLINE", offline)
        with pytest.raises(RegistryError, match="refused the cached file .* its sha256 is .* the Hub's is "
                                                ".*changed after it was downloaded"):
            resolve_model_spec("mine")
        assert blob.read_bytes() == bytes(altered)  # left for its owner: this run did not download it
    result = CliRunner().invoke(app, ["animate", "s.png", "d.mp4", "--model", "mine"])
    assert result.exit_code == 2 and result.output.count("animcli: error:") == 1, result.output
    assert "refused the cached file" in result.output


def test_next_source_is_tried_when_the_first_is_gone(hub: StandInHub, tmp_path: Path) -> None:
    hub.add_file("someone/app", "weights/model.pth.tar", b"from the space", repo_type="space")
    register(tmp_path, "mine", 'sources = [{ repo_id = "gone/repo", filename = "model.pth.tar" }, '
                               '{ repo_id = "someone/app", repo_type = "space", filename = "weights/model.pth.tar" }]')

    assert resolve_model_spec("mine").checkpoint.read_bytes() == b"from the space"


def test_hub_address_with_a_pinned_revision(hub: StandInHub) -> None:
    repo = hub.add_file("org/weights", "dir/model.pt", b"pinned")

    resolved = resolve_model_spec(f"hf://org/weights/dir/model.pt@{repo.commit}")

    assert resolved.checkpoint.read_bytes() == b"pinned" and resolved.name is None
    with pytest.raises(RegistryError, match="no such file in the repository"):
        resolve_model_spec("hf://org/weights/other.pt")


def test_offline_without_cache_says_what_was_tried_and_what_to_do(hub: StandInHub, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.add_file("org/weights", "model.pth.tar", b"x")
    register(tmp_path, "mine", hub_entry("org/weights", "model.pth.tar"))

    result = CliRunner().invoke(app, ["models", "pull", "mine"])

    assert result.exit_code == 2 and result.output.count("\n") == 1
    for expected in ("hf://org/weights/model.pth.tar", "HF_HUB_OFFLINE", "animcli models import mine PATH"):
        assert expected in result.output
    assert hub.requests == []


def test_endpoint_that_is_not_a_hub_is_reported(hub: StandInHub, tmp_path: Path) -> None:
    hub.answers_like_a_hub = False
    hub.add_file("org/weights", "model.pth.tar", b"x")
    register(tmp_path, "mine", hub_entry("org/weights", "model.pth.tar"))

    with pytest.raises(RegistryError, match=f"{hub.url} unreachable, and not cached.*HF_HUB_OFFLINE=1"):
        resolve_model_spec("mine")


def test_push_uploads_safetensors_config_and_card_that_pull_back(
    hub: StandInHub, tmp_path: Path, fomm_fixture
) -> None:
    checkpoint, config = fomm_fixture
    register(tmp_path, "small-fomm", f'family = "fomm"\nlicense = "MIT"\nconfig = "{config}"\n'
                                     f'sources = [{{ path = "{checkpoint}" }}]')

    result = CliRunner().invoke(app, ["models", "push", "small-fomm", "--repo-id", "alice/mirror"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "hf://alice/mirror/model.safetensors"
    files = hub.repos[("model", "alice/mirror")].files
    assert set(files) == {"model.safetensors", "config.json", "README.md"}
    card = files["README.md"].decode()
    assert card.startswith("---\nlicense: mit\nlibrary_name: animcli\n")
    assert sha256_of_file(checkpoint) in card and "hf://alice/mirror/model.safetensors" in card
    pulled = load_checkpoint_file(resolve_model_spec("hf://alice/mirror/model.safetensors").checkpoint)
    original = load_checkpoint_file(checkpoint)
    assert all((pulled["generator"][k] == v).all() for k, v in original["generator"].items())
    assert pulled["config"] == json.loads(files["config.json"])


def animate_frames(arguments: list[str], output: Path) -> np.ndarray:
    from animcli.media import read_image

    result = CliRunner().invoke(app, ["animate", *arguments, "-o", str(output), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return np.stack([read_image(path) for path in sorted(output.iterdir())])


def test_animate_with_a_model_pulled_from_the_hub_and_its_safetensors_conversion(
    hub: StandInHub, tmp_path: Path, fomm_fixture, reference_dir: Path
) -> None:
    from animcli.media import write_image

    checkpoint, config = fomm_fixture
    hub.add_file("org/fomm-small", "checkpoint.pth.tar", checkpoint.read_bytes())
    register(tmp_path, "fixture-fomm", hub_entry("org/fomm-small", "checkpoint.pth.tar", config=config))
    inputs = np.load(reference_dir / "fomm" / "fixtures" / "inputs.npz")
    to_uint8 = lambda image: np.round(image.transpose(1, 2, 0) * 255).astype(np.uint8)  # noqa: E731
    source = write_image(tmp_path / "source.png", to_uint8(inputs["source"][0]))
    (tmp_path / "driving").mkdir()
    for index, frame in enumerate(inputs["driving"]):
        write_image(tmp_path / "driving" / f"{index:03d}.png", to_uint8(frame))
    driving = str(tmp_path / "driving")

    from_hub = animate_frames(["--model", "fixture-fomm", str(source), driving], tmp_path / "from-hub")
    pulled = resolve_model_spec("fixture-fomm").checkpoint
    converted = tmp_path / "fixture.safetensors"
    convert = CliRunner().invoke(app, ["models", "convert", str(pulled), str(converted), "--config", str(config)])
    assert convert.exit_code == 0, convert.output
    from_safetensors = animate_frames(["--model", str(converted), str(source), driving], tmp_path / "converted")

    assert from_hub.shape == (len(inputs["driving"]), 128, 128, 3)
    assert np.array_equal(from_hub, from_safetensors)
    assert from_hub.std() > 1  # real frames, not a blank output


def closed_port_endpoint() -> str:
    """An endpoint on 127.0.0.1 where nothing listens (connections are refused at once)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("endpoint", ["closed port", "http://hub.invalid"])
def test_an_unreachable_endpoint_fails_in_a_second_or_two(tmp_path: Path, monkeypatch, endpoint: str) -> None:
    import time

    endpoint = closed_port_endpoint() if endpoint == "closed port" else endpoint
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    started = time.monotonic()

    result = CliRunner().invoke(app, ["models", "pull", "fomm-vox"])

    # huggingface_hub alone retries for about half a minute before failing.
    assert time.monotonic() - started < 5
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert f"{endpoint} unreachable (cannot " in result.output and "and not cached" in result.output


def test_an_unreachable_endpoint_still_serves_the_cache(hub: StandInHub, tmp_path: Path, monkeypatch) -> None:
    hub.add_file("org/weights", "model.pth.tar", b"cached bytes")
    register(tmp_path, "mine", hub_entry("org/weights", "model.pth.tar"))
    cached = resolve_model_spec("mine").checkpoint
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint())

    assert resolve_model_spec("mine").checkpoint == cached


def test_perceptual_loss_weights_fail_fast_offline(tmp_path: Path, monkeypatch) -> None:
    from animcli.train.vgg import VggWeightsError, hub_weights_path

    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint())
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(VggWeightsError, match=r"unreachable \(cannot connect to 127\.0\.0\.1:\d+.*--perceptual none"):
        hub_weights_path()


def test_models_list_names_the_source_and_asks_the_hub_for_unrecorded_sizes(hub: StandInHub, tmp_path: Path,
                                                                            monkeypatch) -> None:
    hub.add_file("org/weights", "model.pth.tar", b"x" * 1234)
    register(tmp_path, "asked", hub_entry("org/weights", "model.pth.tar"))
    register(tmp_path, "recorded", hub_entry("org/weights", "model.pth.tar", ", file_size = 99"))

    result = CliRunner().invoke(app, ["models", "list", "--json"])

    assert result.exit_code == 0, result.output
    listings = {item["name"]: item for item in json.loads(result.stdout)}
    assert (listings["asked"]["file_size"], listings["asked"]["file_size_from"]) == (1234, "hub")
    assert (listings["recorded"]["file_size"], listings["recorded"]["file_size_from"]) == (99, "registry")
    assert listings["asked"]["source"] == "hf://org/weights/model.pth.tar"
    assert listings["asked"]["sources"] == [{"uri": "hf://org/weights/model.pth.tar", "repo_id": "org/weights",
                                             "filename": "model.pth.tar", "revision": None, "repo_type": "model",
                                             "file_size": None, "sha256": None}]
    assert listings["lia-vox"]["source"] == listings["lia-vox"]["download_page"] == "https://github.com/wyhsirius/LIA"
    table = CliRunner().invoke(app, ["models", "list"]).stdout.splitlines()
    assert table[0].split() == ["name", "family", "input", "download", "license", "status", "source"]
    assert [line.split()[3:5] + line.split()[-1:] for line in table if line.startswith("asked ")] == [
        ["1.2", "KB", "hf://org/weights/model.pth.tar"]]

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    requests_before = len(hub.requests)
    offline = {item.name: item for item in list_models()}
    assert (offline["asked"].file_size, offline["asked"].file_size_from) == (None, None)  # unknown, not guessed
    assert len(hub.requests) == requests_before
