"""Every `animcli …` command printed in README.md runs as printed, so the README cannot drift from the tool.

The commands of each ``##`` section run in order in a fresh folder that holds what the quick start leaves
(``demo-output/`` from ``animcli demo``) and ``../shared`` (the project's shared data). Heavy commands run on
tiny inputs: training gets tiny networks, a tiny dataset and two steps; evaluation two videos; videos a few
frames. A command that cannot run here (the Hub, a GPU, a camera, a write token) must match one of
``CANNOT_RUN_HERE`` and is reported as skipped, never silently dropped.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from test_train_prediction import prediction_config
from test_train_tiny import tiny_dataset, tiny_fomm_config, write_config
from typer.testing import CliRunner

from animcli.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
runner = CliRunner()

#: (pattern in a command, why it cannot run on a test machine)
CANNOT_RUN_HERE: list[tuple[str, str]] = [
    (r"--model ((fomm|lia|monkeynet|tpsmm)-\w|liax\b)", "downloads a published model from the Hub"),
    (r"hf://", "needs the Hugging Face Hub"),
    (r"models (pull|push)", "needs the Hugging Face Hub"),
    (r"--device cuda", "needs a GPU"),
    (r"--camera (0|/dev/|rtsp://)", "needs a camera"),
    (r"-o virtual", "needs a v4l2loopback device"),
    (r"~/Downloads", "needs a checkpoint you downloaded"),
]
SHARED_SHAPES = "../shared/datasets/shapes"
#: shell lines of a README block that prepare a command's input (run with bash; `make` and `source` are not)
SHELL_STEPS = ("printf ", "echo ", "mkdir ")
#: commands whose section is marked slow (the quick loop `pytest -m "not slow"` leaves them out)
HEAVY = ("train", "eval", "predict", "bench", "export", "batch", "live", "crop")


def sections() -> list[tuple[str, list[str]]]:
    """(heading, commands) of every README section (## or ###) with commands in its sh code blocks."""
    found: dict[str, list[str]] = {}
    heading = "top"
    in_block = False
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            in_block = not in_block and line.strip("`").strip() in ("sh", "bash", "console")
            continue
        if not in_block and line.startswith(("## ", "### ")):
            heading = line.lstrip("#").strip()
        elif in_block:
            command = line.split(" # ")[0].strip().removeprefix("$ ")
            if command.startswith(("animcli ", *SHELL_STEPS)):
                found.setdefault(heading, []).append(command)
    return list(found.items())


def cannot_run_here(command: str) -> str | None:
    return next((why for pattern, why in CANNOT_RUN_HERE if re.search(pattern, command)), None)


def section_params() -> list:
    params = []
    for heading, commands in sections():
        heavy = any(shlex.split(command)[1] in HEAVY for command in commands if command.startswith("animcli "))
        params.append(pytest.param(commands, id=heading, marks=[pytest.mark.slow] if heavy else []))
    return params


class Tiny:
    """Tiny stand-ins for the README's data sets and training configs."""

    def __init__(self, root: Path) -> None:
        self.data = tiny_dataset(root / "data", videos=5, frames=4)
        monkeynet = prediction_config(num_frames=3)
        monkeynet["prediction_params"]["train_size"] = None
        self.configs = {
            "fomm-shapes-64": write_config(tiny_fomm_config(), root / "fomm.yaml"),
            "monkeynet-shapes-64": write_config(monkeynet, root / "monkeynet.yaml"),
        }

    def adapt(self, args: list[str]) -> list[str]:
        """The README command made small enough for a test."""
        args = [self.stand_in(arg) for arg in args]
        extra: dict[str, Callable[[list[str]], list[str]]] = {
            "train": lambda a: [*a, "--max-steps", "2", "-q"],
            "animate": lambda a: a if "--max-frames" in a else [*a, "--max-frames", "8"],
            "eval": lambda a: a if "--limit" in a else [*a, "--limit", "2"],
            "live": lambda a: [*a, "--max-frames", "3"],
            "data": lambda a: _replace_values(a, {"--videos": "5", "--frames": "4", "--size": "32"}),
            "bench": lambda a: _replace_values(a, {"--frames": "2"}),
        }
        return extra.get(args[0], lambda a: a)(args)

    def stand_in(self, arg: str) -> str:
        if arg.startswith(SHARED_SHAPES):
            return str(self.data) + arg.removeprefix(SHARED_SHAPES)
        return str(self.configs.get(arg, arg))


def _replace_values(args: list[str], values: dict[str, str]) -> list[str]:
    return [values.get(args[i - 1], arg) if i else arg for i, arg in enumerate(args)]


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the quick start's `animcli demo` writes."""
    root = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--out", str(root / "demo-output")])
    assert result.exit_code == 0, result.output
    return root / "demo-output"


@pytest.mark.parametrize("commands", section_params())
def test_readme_section_commands_run(commands: list[str], demo_output: Path, shared_dir: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    if not any(command.startswith("animcli demo ") for command in commands):  # else the section makes its own
        shutil.copytree(demo_output, work / "demo-output")
    (tmp_path / "shared").symlink_to(shared_dir)  # ../shared, as beside the project's checkout
    (work / "checkpoints").symlink_to(README.parent / "checkpoints")  # commands run in the checkout
    tiny = Tiny(tmp_path / "tiny")
    monkeypatch.chdir(work)
    for variable in ("DISPLAY", "WAYLAND_DISPLAY"):  # `live -o auto` records instead of opening a window
        monkeypatch.delenv(variable, raising=False)
    skipped = []
    for command in commands:
        why = cannot_run_here(command)
        if why is not None:
            skipped.append(f"{command}: {why}")
            continue
        if command == "animcli demo":  # the quick start's: the demo_output fixture ran it for the module
            continue
        if command.startswith(SHELL_STEPS):
            subprocess.run(["bash", "-c", command], check=True, cwd=work)
            continue
        args = tiny.adapt(shlex.split(command.split(" | ")[0])[1:])
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"README command failed: {command}\n(run as: animcli {shlex.join(args)})\n" \
                                      f"{result.output}"
    if skipped and len(skipped) == len(commands):
        pytest.skip("; ".join(skipped))


def test_the_readme_prints_commands_and_skips_only_what_cannot_run_here() -> None:
    commands = [command for _, found in sections() for command in found]
    assert len(commands) >= 20
    runnable = [command for command in commands if cannot_run_here(command) is None]
    assert len(runnable) >= len(commands) * 2 // 3
