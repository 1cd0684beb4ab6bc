"""Building networks from the official config layout, with the missing or unexpected key named.

The official code builds each network as ``Network(**section, **common_params)``; a section that is absent
or a key the constructor does not take then ends in a ``KeyError``/``TypeError`` traceback. Here the
constructor's own signature is the schema: every key is checked against it before anything is built.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

from animcli.common.errors import ModelError

Network = TypeVar("Network")


def config_section(config: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    """The mapping at dotted ``path`` (e.g. ``model_params.kp_detector_params``), or a one-line error."""
    node: Any = config
    for depth, key in enumerate(path.split(".")):
        if not isinstance(node, Mapping) or key not in node:
            where = ".".join(path.split(".")[:depth + 1])
            raise ModelError(f"config has no '{where}' section")
        node = node[key]
    if not isinstance(node, Mapping):
        raise ModelError(f"config '{path}' is not a section of key: value pairs")
    return node


def construct(network: type[Network], config: Mapping[str, Any], path: str, common_path: str | None = None,
              **fixed: Any) -> Network:
    """``network(**section, **common, **fixed)`` for the config section at ``path`` merged with the optional
    common section at ``common_path``, refusing keys the constructor does not take and naming the ones it needs."""
    section = dict(config_section(config, path))
    common = dict(config_section(config, common_path)) if common_path and _has(config, common_path) else {}
    parameters = inspect.signature(network).parameters
    accepted = {name for name, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    forwards_the_rest = any(p.kind == p.VAR_KEYWORD for p in parameters.values())
    for where, params in ((path, section), (common_path, common)):
        unexpected = [] if forwards_the_rest else sorted(set(params) - accepted)
        if unexpected:
            raise ModelError(f"config '{where}' has unexpected key '{unexpected[0]}' "
                             f"({network.__name__} takes: {', '.join(sorted(accepted - set(fixed)))})")
    given = {**section, **common, **fixed}
    missing = [name for name, p in parameters.items()
               if name in accepted and p.default is p.empty and name not in given]
    if missing:
        raise ModelError(f"config '{path}' lacks key '{missing[0]}'")
    try:
        return network(**given)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"config '{path}' does not fit {network.__name__}: {exc}") from None


def _has(config: Mapping[str, Any], path: str) -> bool:
    node: Any = config
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True
