"""Strict loading of official state dicts into the networks, with one-line reasons when they do not fit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from animcli.common.errors import ModelError

#: Dtypes a checkpoint's floating-point weights may have: what the networks run in, or an exact half precision
#: (widened losslessly). float64 or integer weights would be cast silently (rounded, or read as garbage).
WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def check_weights(state_dict: Mapping[str, Any], expected: Mapping[str, Tensor], what: str, *,
                  values: bool = True) -> None:
    """Refuse, in one line naming the tensor, a checkpoint entry whose dtype does not fit the network's (float
    weights stored as float64 or integers, integer counters stored as floats) or, with ``values``, whose values
    are not all finite (NaN/Inf weights render black frames). One pass over the weights, at load."""
    for key, value in state_dict.items():
        target = expected.get(key)
        if target is None or not isinstance(value, Tensor):
            continue
        name = f"{what}.{key}"
        if target.is_floating_point():
            if value.dtype not in WEIGHT_DTYPES:
                raise ModelError(f"checkpoint tensor {name} is {_dtype(value)}; weights must be float32, float16 or "
                                 "bfloat16 (refusing to cast them silently)")
            # One reduction instead of an elementwise test: NaN and ±Inf propagate into the sum.
            if values and value.numel() and not torch.isfinite(value.sum(dtype=torch.float64)):
                bad = int((~torch.isfinite(value)).sum())
                raise ModelError(f"checkpoint tensor {name} holds {bad} NaN or infinite value{'s' * (bad != 1)} "
                                 f"(of {value.numel()}): the model would render garbage; the file is broken")
        elif value.is_floating_point() or value.is_complex():
            raise ModelError(f"checkpoint tensor {name} is {_dtype(value)}; it must be an integer tensor")


def _dtype(tensor: Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


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
    # A network built on the meta device only to check the checkpoint's shapes and dtypes takes nothing (unless it
    # takes the tensors over, ``assign``): its values are checked and loaded by the real load.
    loads = assign or not any(tensor.is_meta for tensor in expected.values())
    check_weights(state_dict, expected, what, values=loads)
    if loads:
        module.load_state_dict(state_dict, strict=True, assign=assign)
