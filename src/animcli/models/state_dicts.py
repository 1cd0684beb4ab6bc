"""Strict loading of official state dicts into the networks, with one-line reasons when they do not fit."""

from __future__ import annotations

from typing import Any

from torch import nn

from animcli.common.errors import ModelError


def load_strict(module: nn.Module, state_dict: Any, what: str, *, assign: bool = False) -> None:
    """``load_state_dict(strict=True)`` with a one-line explanation when the checkpoint does not fit.

    BatchNorm's ``num_batches_tracked`` counters (absent from checkpoints saved before torch 0.4.1, and unused
    in eval) are the only entries allowed to be missing: the module keeps its own. ``assign``: the module takes
    the checkpoint's tensors over instead of copying them (see ``nn.Module.load_state_dict``).
    """
    if not isinstance(state_dict, dict):
        raise ModelError(f"checkpoint entry {what!r} is not a state dict")
    expected = module.state_dict()
    counters = {k: v for k, v in expected.items() if k.endswith(".num_batches_tracked") and k not in state_dict}
    state_dict = {**state_dict, **counters}
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [k for k in expected if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or mismatched:
        found = {"missing": missing, "unexpected": unexpected, "shape mismatch": mismatched}
        problems = [f"{len(keys)} {label} (e.g. {keys[0]})" for label, keys in found.items() if keys]
        raise ModelError(f"checkpoint {what!r} does not fit the config: {', '.join(problems)}")
    module.load_state_dict(state_dict, strict=True, assign=assign)
