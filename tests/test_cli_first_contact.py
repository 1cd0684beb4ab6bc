"""What a newcomer meets first: --version, a top-level help naming every family, tables that fit a terminal."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from animcli.cli import app
from animcli.cli.models import table_lines
from animcli.models.families import FAMILIES

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"animcli {version('animcli')}\n"


def test_the_top_level_help_names_every_family() -> None:
    result = runner.invoke(app, ["--help"], terminal_width=200)
    titles = [family.title for family in FAMILIES.values()]
    assert {"FOMM", "LIA", "Monkey-Net", "LIA-X", "TPSMM"} <= set(titles)
    assert f"({', '.join(titles)})" in result.stdout


def test_a_table_wider_than_the_terminal_puts_the_last_column_below_each_row() -> None:
    rows = [("name", "status", "source"), ("a", "ok", "hf://org/repo/" + "x" * 80)]
    assert table_lines(rows, 200) == ["name  status  source", f"a     ok      {rows[1][2]}"]
    lines = "\n".join(table_lines(rows, 80)).splitlines()
    assert lines == ["name  status", "a     ok", f"    {rows[1][2]}"]
    assert table_lines(rows, None) == table_lines(rows, 200)  # a pipe: one row per model


def test_one_metavar_style_in_every_help() -> None:
    commands = [[name] for name in ("animate", "edit", "batch", "crop", "live", "predict", "train", "eval")]
    commands += [["models", "import"], ["models", "convert"], ["data", "synth"]]
    for command in commands:
        usage = runner.invoke(app, [*command, "--help"], terminal_width=200).stdout
        first = usage.splitlines()[0]
        arguments = re.findall(r"\{([^}]+)\}", first)
        assert all(name.split(".")[0].isupper() for name in arguments), first  # JOBS.jsonl: a file kind
        assert "<list[" not in usage, command


def test_the_batch_summary_counts_one_worker_in_the_singular(capsys) -> None:
    from types import SimpleNamespace

    from animcli.cli.batch import _print_summary

    report = SimpleNamespace(jobs=[], count=lambda status: 1 if status == "ok" else 0, frames=10, seconds=2.0,
                             workers=1)
    _print_summary(report)
    assert capsys.readouterr().err == "1 ok, 0 skipped, 0 failed (10 frames in 2.0 s on 1 worker, 5.0 frames/s)\n"


def test_eval_names_the_metrics_it_could_not_score_on_one_line(shared_dir, tmp_path) -> None:
    from test_eval_cli import strip_frames, write_frames

    shapes_test = shared_dir / "datasets" / "shapes" / "test"
    name = sorted(path.stem for path in shapes_test.iterdir())[0]
    write_frames(tmp_path / "pred" / name, strip_frames(shapes_test / f"{name}.png"))
    result = runner.invoke(app, ["eval", "--pred", str(tmp_path / "pred"), "--gt", str(shapes_test), "--limit", "1"])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "scored" in line or "unavailable" in line]
    assert len(notes) == 1 and notes[0].startswith("not scored here: ") and "--metrics chooses" in notes[0]


def test_a_ray_started_for_the_run_keeps_its_token_notice_to_itself(monkeypatch) -> None:
    import logging

    pytest.importorskip("ray")
    from animcli.jobs import pools

    notices = []

    class FakeRay:
        @staticmethod
        def is_initialized() -> bool:
            return False

        @staticmethod
        def init(**options: object) -> None:  # what Ray's start-up does with its notice
            logger = logging.getLogger(pools.RAY_TOKEN_NOTICES)
            if logger.isEnabledFor(logging.WARNING):
                notices.append("Token authentication is enabled for this Ray cluster.")
            raise ConnectionError("no cluster in this test")

    monkeypatch.setattr("animcli.jobs.ray_pool.import_ray", lambda: FakeRay)
    with pytest.raises(pools.AnimcliError, match="cannot connect to Ray"), \
            pools._ray_pool(pools.EngineOptions("ray"), set(), 1):
        pass
    assert notices == []


def test_train_help_names_the_trainable_families_from_their_descriptors() -> None:
    trainable = [name for name, family in FAMILIES.items() if family.trainer_module is not None]
    assert {"fomm", "lia", "monkeynet", "tpsmm"} <= set(trainable) and "liax" not in trainable
    help_text = " ".join(runner.invoke(app, ["train", "--help"], terminal_width=200).stdout.split())
    assert f"Family to train from scratch ({', '.join(trainable)})" in help_text
