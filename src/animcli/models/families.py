"""The model families animcli knows, each described once: its name, its inference model and its trainer.

The modules are named, not imported, so that choosing a family imports only that family's code (and
``animcli --help`` imports none); each model module exposes ``MODEL`` (an :class:`AnimationModel`
subclass, which also holds the family's input-size rules: ``size``, ``size_multiple``, ``check_size``), each
trainer module ``TRAINER`` (a ``train.trainer.FamilyTrainer`` subclass).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from animcli.common.errors import ModelError

if TYPE_CHECKING:  # the descriptors stay torch-free: `animcli --help` names the families without loading any
    from animcli.models.base import AnimationModel


@dataclass(frozen=True)
class Family:
    name: str
    #: how the papers and the help write it
    title: str
    model_module: str
    #: None: animcli cannot train the family (LIA-X: its authors published inference code only).
    trainer_module: str | None = None

    def model_class(self) -> type[AnimationModel]:
        return importlib.import_module(self.model_module).MODEL

    def trainer_class(self) -> type:
        """The family's ``FamilyTrainer`` subclass (training code sits above the models, so it is not named here)."""
        if self.trainer_module is None:
            raise ModelError(f"animcli cannot train {self.name} models (only load and run published ones)")
        return importlib.import_module(self.trainer_module).TRAINER


FAMILIES = {
    family.name: family
    for family in (
        Family("fomm", "FOMM", "animcli.models.fomm", "animcli.train.fomm"),
        Family("lia", "LIA", "animcli.models.lia", "animcli.train.lia"),
        Family("monkeynet", "Monkey-Net", "animcli.models.monkeynet", "animcli.train.monkeynet"),
        Family("liax", "LIA-X", "animcli.models.liax"),
        Family("tpsmm", "TPSMM", "animcli.models.tpsmm", "animcli.train.tpsmm"),
    )
}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ModelError(f"unknown model family {name!r} (known: {', '.join(FAMILIES)})")
    return FAMILIES[name]


def family_class(name: str) -> type[AnimationModel]:
    return get_family(name).model_class()


def detect_family(config: dict[str, Any] | None = None, checkpoint: dict[str, Any] | None = None) -> str:
    """The family a config (preferred) or checkpoint dict belongs to."""
    for name in FAMILIES:
        cls = family_class(name)
        if (config is not None and cls.claims_config(config)) or (
            config is None and checkpoint is not None and cls.claims_checkpoint(checkpoint)
        ):
            return name
    what = "config" if config is not None else "checkpoint"
    raise ModelError(f"the {what} is not a {what} of any known model family ({', '.join(FAMILIES)})")
