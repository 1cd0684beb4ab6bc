"""Publishing models: registering a downloaded checkpoint (``import``), converting pickles to safetensors
(``convert``), and uploading to the Hugging Face Hub with a model card (``push``)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from animcli.common.errors import ModelError, RegistryError
from animcli.common.files import sha256_of_file
from animcli.models import detect_family
from animcli.models.base import AnimationModel
from animcli.models.configs import resolve_config
from animcli.weights.checkpoint_io import load_checkpoint_file, load_trusted_pickle
from animcli.weights.fetch import resolve_model_spec
from animcli.weights.hub import HUB_SCHEME, HubSettings, hub_failure_reason, transfer_errors
from animcli.weights.loading import config_of, load_model
from animcli.weights.registry import (
    RegistryEntry,
    check_model_name,
    config_reference,
    load_registry,
    write_user_entry,
)
from animcli.weights.safetensors_io import SafetensorsHeader, write_safetensors_checkpoint

PUSHED_WEIGHTS = "model.safetensors"
PUSHED_CONFIG = "config.json"
# Licence identifiers the Hub understands in a model card; anything else is published as "other".
HUB_LICENSES = {
    "mit", "apache-2.0", "bsd-3-clause", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0",
}


def load_for_import(
    name: str, path: Path, config: str | Path | None, known: RegistryEntry | None
) -> AnimationModel:
    """Build the model from ``path`` to prove the file is what ``name`` claims to be."""
    try:
        model = load_model(checkpoint=path, config=config, device="cpu")
    except ModelError as exc:
        raise RegistryError(f"cannot import {path} as {name!r}: {exc}") from None
    if known is not None and known.family is not None and model.family != known.family:
        raise RegistryError(f"{path} is a {model.family} checkpoint, but {name!r} is a {known.family} model")
    if known is not None and known.input_size is not None and model.size != known.input_size:
        raise RegistryError(
            f"{path} builds a {model.size}px model, but {name!r} is a {known.input_size}px model"
        )
    return model


def import_model(name: str, path: Path, config: str | None = None) -> Path:
    """Register a hand-downloaded checkpoint under ``name`` in the user's registry file; returns that file.

    The file is loaded first (with ``config``, or the entry's own config), so a wrong family, config or a
    truncated download is refused here rather than on the next ``animate``.
    """
    check_model_name(name)
    # The entry records the file that was hashed, not the way it was reached: a relative path or a symlink
    # (e.g. a symlinked ../shared) can later lead elsewhere, and the entry would then name other bytes.
    path = path.expanduser().resolve()
    if not path.is_file():
        raise RegistryError(f"{path} is not a file")
    known = load_registry().get(name)
    config_ref = config_reference(config, Path.cwd()) if config is not None else None
    if isinstance(config_ref, Path):
        config_ref = config_ref.resolve()
    model = load_for_import(name, path, config_ref or (known.config if known else None), known)
    fields: dict[str, Any] = {
        "sources": [{"path": str(path), "file_size": path.stat().st_size, "sha256": sha256_of_file(path)}]
    }
    if config_ref is not None:
        fields["config"] = str(config_ref)
    if known is None:
        fields.update(
            family=model.family,
            input_size=model.size,
            default_mode=model.default_mode,
            description=f"imported from {path.name}",
        )
    return write_user_entry(name, fields)


def convert_checkpoint(
    source: Path,
    output: Path,
    config: str | Path | dict[str, Any] | None = None,
    *,
    trust_pickle: bool = False,
) -> SafetensorsHeader:
    """Convert an official checkpoint to a self-describing safetensors file.

    The input is read with the safe loader unless ``trust_pickle`` (the user vouches for the file). The config
    (a shipped name, a path or a dict) is stored in the header; without one, the config the checkpoint would
    load with (its own, the run directory's beside it, or one read off its weights), and the family is
    recorded from the checkpoint's layout.
    """
    if output.suffix != ".safetensors":
        raise ModelError(f"the output file must end in .safetensors, not {output.name!r}")
    if output.resolve() == source.resolve():
        raise ModelError(f"refusing to convert {source} onto itself")
    trusted = trust_pickle and source.suffix != ".safetensors"
    checkpoint = load_trusted_pickle(source) if trusted else load_checkpoint_file(source)
    config_dict = resolve_config(config) if config is not None else config_of(source, checkpoint)
    family = detect_family(config=config_dict, checkpoint=checkpoint)
    header = SafetensorsHeader(family, config_dict, sha256_of_file(source))
    write_safetensors_checkpoint(
        checkpoint, output, family=header.family, config=header.config, source_sha256=header.source_sha256
    )
    return header


def hub_license(license_name: str | None) -> str:
    lowered = (license_name or "").lower()
    return lowered if lowered in HUB_LICENSES else "other"


def model_card(repo_id: str, model_name: str, header: SafetensorsHeader, entry: RegistryEntry | None) -> str:
    """README.md for a pushed model: Hub metadata, provenance, usage, licence."""
    license_name = entry.license if entry and entry.license else None
    facts = [f"- family: `{header.family}`"]
    if entry and entry.input_size:
        facts.append(f"- input size: {entry.input_size}×{entry.input_size}")
    if entry and entry.default_mode:
        facts.append(f"- default transfer mode: {entry.default_mode}")
    if entry and entry.homepage:
        facts.append(f"- original project: {entry.homepage}")
    if header.source_sha256:
        facts.append(f"- sha256 of the original checkpoint file: `{header.source_sha256}`")
    description = entry.description if entry and entry.description else f"A {header.family} model."
    licence_text = (
        f"The weights keep the licence of the original release: **{license_name}**."
        if license_name
        else "The licence of the original weights is not recorded: check it before sharing this repository."
    )
    return "\n".join([
        "---",
        f"license: {hub_license(license_name)}",
        "library_name: animcli",
        "tags:",
        "- image-animation",
        f"- {header.family}",
        "---",
        "",
        f"# {model_name}",
        "",
        description,
        "",
        f"`{PUSHED_WEIGHTS}` holds the networks' weights converted from the official checkpoint by "
        f"`animcli models convert`; its header carries the family and the model config (also in "
        f"`{PUSHED_CONFIG}`), so no other file is needed. Nothing in it is pickled.",
        "",
        *facts,
        "",
        "## Use",
        "",
        "```",
        f"animcli animate --model {HUB_SCHEME}{repo_id}/{PUSHED_WEIGHTS} SOURCE_IMAGE DRIVING_VIDEO",
        "```",
        "",
        "## Licence",
        "",
        licence_text,
        "",
    ])


def push_model(spec: str, repo_id: str, *, config: str | None = None, private: bool = False) -> str:
    """Convert ``spec``'s checkpoint to safetensors and upload it with its config and a model card.

    Returns the ``hf://`` address of the pushed weights.
    """
    from huggingface_hub import HfApi

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise RegistryError(f"--repo-id must be USER/REPO, not {repo_id!r}")
    settings = HubSettings.from_environment()
    if settings.offline:
        raise RegistryError("cannot push while HF_HUB_OFFLINE=1 is set")
    resolved = resolve_model_spec(spec)
    config_spec = config_reference(config, Path.cwd()) if config is not None else resolved.config
    if config_spec is None and resolved.checkpoint.suffix != ".safetensors":
        raise RegistryError(f"{spec} does not say which config it uses: pass --config NAME|PATH")
    with tempfile.TemporaryDirectory(prefix="animcli-push-") as staging:
        folder = Path(staging)
        header = convert_checkpoint(resolved.checkpoint, folder / PUSHED_WEIGHTS, config_spec)
        if header.config is None:
            raise RegistryError(f"{spec} carries no config: pass --config NAME|PATH")
        (folder / PUSHED_CONFIG).write_text(json.dumps(header.config, indent=2, sort_keys=True) + "\n")
        entry = load_registry().get(resolved.name) if resolved.name else None
        model_name = resolved.name or resolved.checkpoint.stem
        (folder / "README.md").write_text(model_card(repo_id, model_name, header, entry), encoding="utf-8")
        api = HfApi(endpoint=settings.endpoint)
        try:
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            api.upload_folder(
                repo_id=repo_id,
                repo_type="model",
                folder_path=folder,
                commit_message=f"Upload {model_name} converted to safetensors by animcli",
            )
        except transfer_errors() as exc:
            raise RegistryError(
                f"pushing to {repo_id} on {settings.endpoint} failed: {hub_failure_reason(exc, settings)} "
                "(pushing needs a write token: HF_TOKEN or `hf auth login`)"
            ) from None
    return f"{HUB_SCHEME}{repo_id}/{PUSHED_WEIGHTS}"
