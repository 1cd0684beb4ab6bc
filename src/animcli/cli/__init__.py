"""Command-line interface: a thin layer over the library. Each command group lives in its own module."""

from __future__ import annotations

import importlib

from animcli.cli.app import app

# Importing a command module registers its commands on ``app``.
COMMAND_MODULES = ["animate", "edit", "batch", "demo", "eval", "models", "train", "data", "crop", "live",
                   "predict", "export", "bench"]
for _name in COMMAND_MODULES:
    importlib.import_module(f"animcli.cli.{_name}")


def main() -> None:
    app()


__all__ = ["app", "main"]
