"""Building networks from the official config layout, with the missing or unexpected key named.

The official code builds each network as ``Network(**section, **common_params)``; a section that is absent
or a key the constructor does not take then ends in a ``KeyError``/``TypeError`` traceback. Here the
constructor's own signature is the schema: every key is checked against it before anything is built.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Mapping, Sequence
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
    hints = _type_hints(network)
    for where, params in ((path, section), (common_path, common)):
        for key, value in params.items():
            if key in hints and not _fits(value, hints[key]):
                raise ModelError(f"config '{where}.{key}' must be {_describe(hints[key])}, got {value!r}")
    try:
        return network(**given)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"config '{path}' does not fit {network.__name__}: {exc}") from None


def _type_hints(network: Any) -> dict[str, Any]:
    """The constructor's parameter annotations, resolved (empty when they cannot be: then only keys are checked)."""
    try:
        return typing.get_type_hints(network.__init__)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve only skips the type check
        return {}


def _fits(value: Any, annotation: Any) -> bool:
    """Whether a config value (as YAML/JSON parsed it) can be passed where ``annotation`` is declared."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any or isinstance(annotation, typing.TypeVar):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, argument) for argument in arguments)
    if annotation is type(None):
        return value is None
    if origin is typing.Literal:
        return value in arguments
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if annotation is str:
        return isinstance(value, str)
    container = origin or annotation
    if isinstance(container, type) and issubclass(container, Mapping):
        return isinstance(value, Mapping)
    if isinstance(container, type) and issubclass(container, Sequence) and container is not str:
        return isinstance(value, list | tuple) and (not arguments or all(
            _fits(item, arguments[0]) for item in value))
    return True  # a type configs cannot spell (a tensor, a module): the constructor decides


def _describe(annotation: Any) -> str:
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(argument) for argument in arguments)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, arguments))
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "text", type(None): "empty"}
    if annotation in names:
        return names[annotation]
    container = origin or annotation
    if isinstance(container, type) and issubclass(container, Mapping):
        return "a section of key: value pairs"
    return "a list" if isinstance(container, type) and issubclass(container, Sequence) else str(annotation)


def _has(config: Mapping[str, Any], path: str) -> bool:
    node: Any = config
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True
