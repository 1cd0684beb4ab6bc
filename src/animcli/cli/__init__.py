"""Command-line interface: a thin layer over the library. Each command group lives in its own module."""

from __future__ import annotations

import importlib
import os

# OpenCV's own log lines ("[ WARN:0@3.0] global cap_v4l.cpp:914 open VIDEOIO…") would reach the user beside
# animcli's one-line errors, which already say what failed. Read when cv2 loads, so set before any import of it.
os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")

from animcli.cli.app import app  # noqa: E402 (after the environment it depends on)

# Importing a command module registers its commands on ``app``.
COMMAND_MODULES = ["animate", "edit", "batch", "demo", "eval", "models", "train", "data", "crop", "live",
                   "predict", "export", "bench", "paste_back"]
for _name in COMMAND_MODULES:
    importlib.import_module(f"animcli.cli.{_name}")


def main() -> None:
    from animcli.cli.app import reserve_standard_streams

    reserve_standard_streams()
    app()


__all__ = ["app", "main"]
