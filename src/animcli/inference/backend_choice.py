"""Which backend runs a model: ``auto`` resolved, threads set, the backend built.

``auto`` on CUDA is torch. On the CPU it is the fastest backend that computes the precision asked for, as
``animcli bench`` measured it on this CPU for this family (``measurements``); unmeasured, the defaults below,
which are issue 14's and 26's measurements: onnxruntime for fp32 (1.2-1.4× torch), OpenVINO for bf16 when the
tested release is installed (2.75× fp32 torch for FOMM vox-256, torch bf16 2.05×), torch for fp16.

Kept apart from the backends so that they import the interface and nothing imports back.
"""

from __future__ import annotations

import os

import torch

from animcli.common.choices import BACKENDS
from animcli.common.errors import ModelError
from animcli.inference.backends.base import Backend
from animcli.inference.backends.torch_backend import TorchBackend
from animcli.models.base import AnimationModel


def default_threads() -> int:
    """Intra-op threads: the CPUs this process may run on, as torch counts them (physical cores)."""
    return max(1, min(torch.get_num_threads(), len(os.sched_getaffinity(0))))


#: the CPU backends that compute each precision, in the order ``auto`` prefers them without a measurement.
CPU_PREFERENCE = {"fp32": ("onnxruntime", "openvino", "torch"), "bf16": ("openvino", "torch"), "fp16": ("torch",)}
#: families whose bf16 ``auto`` never gives OpenVINO: its CPU plugin computes every operation in bf16, TPSMM's
#: thin-plate-spline algebra and AVD network included (mean error up to 8.9 grey levels on the fixtures, against
#: 0.6 for torch autocast, which keeps them in float32). ``--backend openvino`` still runs them.
OPENVINO_BF16_INEXACT = frozenset({"tpsmm"})


def auto_candidates(precision: str, family: str | None = None) -> list[str]:
    """The CPU backends ``auto`` may choose for ``precision`` (and ``family``): OpenVINO only in the release the
    extra pins."""
    from animcli.inference.backends.openvino_backend import openvino_usable_by_auto

    def allowed(name: str) -> bool:
        if name != "openvino":
            return True
        return openvino_usable_by_auto() and not (precision == "bf16" and family in OPENVINO_BF16_INEXACT)

    return [name for name in CPU_PREFERENCE[precision] if allowed(name)]


def resolve_backend_name(name: str, device: torch.device, precision: str, *, family: str | None = None,
                         size: int | None = None) -> str:
    """``name``, or for ``auto`` the backend to run ``precision`` (resolved) with on ``device``: torch on CUDA; on
    the CPU the fastest one measured here for ``family`` at ``size`` by ``animcli bench``, else the default."""
    if name not in BACKENDS:
        raise ModelError(f"unknown backend {name!r} (use {', '.join(BACKENDS)})")
    if name != "auto":
        return name
    if device.type != "cpu":
        return "torch"
    candidates = auto_candidates(precision, family)
    if family is not None:
        from animcli.inference.measurements import fastest_backend

        measured = fastest_backend(family, size, precision, candidates)
        if measured is not None:
            return measured
    return candidates[0]


def make_backend(model: AnimationModel, name: str, device: torch.device, precision: str, *,
                 threads: int | None = None, compile: bool = False, size: int | None = None) -> Backend:
    """The backend ``name`` (after ``auto`` is resolved) for ``model`` computing in ``precision`` (resolved:
    fp32, fp16 or bf16); ``threads`` sets intra-op threads."""
    resolved = resolve_backend_name(name, device, precision, family=model.family, size=size or model.size)
    threads = threads or default_threads()
    torch.set_num_threads(threads)
    if resolved == "torch":
        return TorchBackend(model, device, precision, compile=compile)
    if compile:
        raise ModelError(f"--compile applies to the torch backend ({resolved} optimises its graphs itself)")
    if resolved == "openvino":
        from animcli.inference.backends.openvino_backend import OpenVinoBackend

        return OpenVinoBackend(model, device, precision, threads=threads)
    from animcli.inference.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(model, device, precision, threads=threads)
