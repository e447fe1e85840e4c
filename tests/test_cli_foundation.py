"""The foundation's CLI in a real subprocess: clear errors, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args: str, env_home=None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    if env_home:
        env["FACELENS_HOME"] = str(env_home)
    return subprocess.run(
        [sys.executable, "-m", "facelens.agent.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_analyze_json_schema(group_jpg, facelens_home):
    r = run("analyze", str(group_jpg[0]), "--json", env_home=facelens_home)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) >= {"image", "faces"} and len(data["faces"]) == 4
    face = data["faces"][0]
    assert set(face) >= {
        "id",
        "box",
        "score",
        "position",
        "identity",
        "appearance",
        "emotion",
        "age",
        "age_group",
        "gender",
    }
    assert face["appearance"]["clothing_colour"] == "blue" and face["position"]["horizontal"] == "left"


@pytest.mark.slow
def test_enroll_identify_list_remove(astronaut_jpg, group_jpg, facelens_home):
    assert run("enroll", "Eileen", str(astronaut_jpg), env_home=facelens_home).returncode == 0
    r = run("identify", str(group_jpg[0]), str(astronaut_jpg), "--json", env_home=facelens_home)
    out = json.loads(r.stdout)
    assert [o["image"] for o in out] == [str(group_jpg[0]), str(astronaut_jpg)]  # input order
    assert [f["identity"]["name"] for f in out[0]["faces"]] == ["unknown", "Eileen", "unknown", "Eileen"]
    assert "Eileen" in run("gallery", "list", env_home=facelens_home).stdout
    assert run("gallery", "remove", "Eileen", env_home=facelens_home).returncode == 0
    assert "empty" in run("gallery", "list", env_home=facelens_home).stdout


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"\xff\xd8\xff\xe0 truncated"), "corrupt"),
        (lambda p: p.write_text("hello"), "not an image"),
    ],
)
def test_bad_images_give_one_line_errors(tmp_path, make, expect, facelens_home):
    bad = tmp_path / "bad.jpg"
    make(bad)
    r = run("analyze", str(bad), env_home=facelens_home)
    assert r.returncode == 2 and expect in r.stderr and "Traceback" not in r.stderr


def test_missing_file_unknown_detector_and_unknown_person(tmp_path, astronaut_jpg, facelens_home):
    r = run("analyze", str(tmp_path / "nope.jpg"), env_home=facelens_home)
    assert r.returncode == 2 and "not found" in r.stderr
    r = run("analyze", str(astronaut_jpg), "--detector", "nope", env_home=facelens_home)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = run("gallery", "remove", "Nobody", env_home=facelens_home)
    assert r.returncode == 2 and "gallery list" in r.stderr and "Traceback" not in r.stderr


def test_identify_keeps_going_after_a_bad_file(tmp_path, astronaut_jpg, facelens_home):
    r = run("identify", str(tmp_path / "missing.jpg"), str(astronaut_jpg), "--json", env_home=facelens_home)
    out = json.loads(r.stdout)
    assert r.returncode == 2 and "error" in out[0] and len(out[1]["faces"]) == 1


def test_example_image_is_shipped():
    from pathlib import Path

    r = run("example")
    assert Path(r.stdout.strip()).is_file()


def test_bench_identity_small():
    r = run("bench", "identity", "--size", "2000", "--queries", "50", "--json")
    res = json.loads(r.stdout)
    assert res["recall_at_1"] == 1.0 and res["index"] == "IndexFlatL2" and res["speedup_vs_brute_force"] > 0


def test_every_command_module_imports_and_a_broken_one_stops_the_cli(monkeypatch, capsys):
    """A command module that fails to import is a clear error at start-up, not a command that vanishes."""
    import importlib

    from facelens.agent import cli
    from facelens.agent.cli import evaluate

    for name in cli.COMMAND_MODULES + evaluate.EVAL_MODULES:
        importlib.import_module(f"facelens.agent.cli.{name}")
    monkeypatch.setattr(cli, "COMMAND_MODULES", [*cli.COMMAND_MODULES, "no_such_module"])
    assert cli.main(["doctor", "--json"]) == 2
    err = capsys.readouterr().err
    assert "command module 'no_such_module' failed to import" in err and "Reinstall facelens" in err
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["evaluate"])
    monkeypatch.setattr(evaluate, "EVAL_MODULES", [*evaluate.EVAL_MODULES, "eval_broken"])
    assert cli.main(["eval", "--help"]) == 2
    assert "eval_broken" in capsys.readouterr().err


def test_a_broken_detector_module_is_an_error_not_a_missing_detector(monkeypatch):
    """The BlazeFace/fused detector modules need nothing optional to import: a failure there is a bug
    that must surface, not a detector silently missing from the list."""
    import importlib

    from facelens.tools import faces

    real = importlib.import_module

    def import_module(name, package=None):
        if name == "facelens.tools.detector_fusion":
            raise ImportError("simulated bug in detector_fusion")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
    with pytest.raises(ImportError, match="simulated bug"):
        faces.available_detectors()


def test_command_modules_are_found_not_listed(monkeypatch, tmp_path):
    """A module of the CLI package that declares ``COMMANDS`` is a command module, placed in --help by its
    HELP_ORDER; the same holds for ``EVAL_COMMANDS``/``BENCH_COMMANDS`` (no hand-written list). The names
    are read from the file, a one-line tuple or a table's ``@COMMANDS.command``/``COMMANDS.group`` lines, without
    importing it."""
    from facelens.agent import cli

    assert cli.COMMAND_MODULES[0] == "assistant" and cli.COMMAND_MODULES[-1] == "doctor"
    assert cli.plugin_modules("BENCH_COMMANDS") == ["bench_media", "bench_speech", "bench_serve", "bench_live"]
    (tmp_path / "newcmd.py").write_text('COMMANDS = ("new",)\nHELP_ORDER = 15\n\n\ndef register(sub):\n    pass\n')
    (tmp_path / "tabled.py").write_text(
        "HELP_ORDER = 16\nCOMMANDS = CommandTable()\n\n\n"
        '@COMMANDS.command("first", description="a {b}")\ndef first(args):\n    """h"""\n\n\n'
        'SECOND = COMMANDS.group("second", "g")\n\n\n@SECOND.command("inner")\ndef inner(args):\n    """i"""\n'
    )
    (tmp_path / "unordered.py").write_text("COMMANDS = ()\n")
    monkeypatch.setattr(cli, "__path__", [*cli.__path__, str(tmp_path)])
    cli._sources.cache_clear()
    try:
        names = cli.plugin_modules("COMMANDS")
        assert names[:3] == ["assistant", "newcmd", "tabled"] and names[-1] == "unordered"
        assert "newcmd" not in cli.plugin_modules("EVAL_COMMANDS")
        assert cli._declared_names(cli._sources()["tabled"], "COMMANDS") == ["first", "second"]
        assert cli._declared_names(cli._sources()["newcmd"], "COMMANDS") == ["new"]
    finally:
        monkeypatch.undo()
        cli._sources.cache_clear()


def test_a_command_table_becomes_the_parser():
    """add_commands turns a table into parsers: name, help line, description, the module's own arguments,
    the handler; a Group is a command of sub-commands that alone prints its help."""
    import argparse

    from facelens.agent.cli import Command, Group, add_commands
    from facelens.agent.cli.options import add_json_flag

    def handler(args: argparse.Namespace) -> int:
        return 7

    parser = argparse.ArgumentParser(prog="facelens")
    sub = parser.add_subparsers(dest="command")
    add_commands(
        sub,
        {
            "one": Command(handler, help="the first", description="All about one.", arguments=add_json_flag),
            "two": Group("a group", {"inner": Command(handler, help="inside")}, metavar="WHAT"),
        },
    )
    args = parser.parse_args(["one", "--json"])
    assert args.json is True and args.handler(args) == 7
    assert sub.choices["one"].description == "All about one."
    assert [(a.dest, a.help) for a in sub._choices_actions] == [("one", "the first"), ("two", "a group")]
    assert parser.parse_args(["two", "inner"]).handler is handler
    assert parser.parse_args(["two"]).two_command is None
    assert "WHAT" in sub.choices["two"].format_usage()


def test_a_command_is_declared_at_its_handler():
    """``@TABLE.command`` takes the help line from the handler's docstring (first paragraph) and the description
    from the rest, each folded to one line; the handler stays as it is; a group is a table of its own; a
    handler without a docstring is refused (a command needs a help line)."""
    import argparse

    import pytest

    from facelens.agent.cli import Command, CommandTable, Group, add_commands

    table = CommandTable()

    @table.command("one", description=None)
    def one(args: argparse.Namespace) -> int:
        """the first
        command

        All about
        one.   More."""
        return 3

    inner = table.group("two", "a group", metavar="WHAT")

    @inner.command("inner", lambda p: p.add_argument("--x", type=int), description="Computed.")
    def handler(args: argparse.Namespace) -> int:
        """inside"""
        return args.x

    assert list(table) == ["one", "two"] and one(None) == 3
    assert table["one"] == Command(one, "the first command", "All about one. More.")
    assert isinstance(table["two"], Group) and table["two"].commands is inner
    assert inner["inner"].help == "inside" and inner["inner"].description == "Computed."
    parser = argparse.ArgumentParser(prog="facelens")
    add_commands(parser.add_subparsers(dest="command"), table)
    args = parser.parse_args(["two", "inner", "--x", "5"])
    assert args.handler(args) == 5

    def bare(args: argparse.Namespace) -> int:
        return 0

    with pytest.raises(TypeError, match="docstring"):
        table.command("bare")(bare)
    assert "bare" not in table


def test_emit_prints_text_or_json(capsys):
    """emit: the text printer without --json; with it, the result as JSON: ``to_dict()`` where it has one, a
    pydantic model's ``model_dump()``, a list item by item."""
    import argparse
    import json
    from dataclasses import asdict, dataclass

    from facelens.agent.cli import emit
    from facelens.tools.exemplars import Exemplar

    @dataclass
    class Result:
        n: int

        def to_dict(self) -> dict:
            return asdict(self)

    assert emit(argparse.Namespace(json=False), Result(2), lambda r: print(f"n = {r.n}")) == 0
    assert capsys.readouterr().out == "n = 2\n"
    assert emit(argparse.Namespace(json=True), Result(2), print) == 0
    assert json.loads(capsys.readouterr().out) == {"n": 2}
    assert emit(argparse.Namespace(json=True), {"a": [1]}, print) == 0
    assert json.loads(capsys.readouterr().out) == {"a": [1]}
    assert emit(argparse.Namespace(json=True), [Result(1), Exemplar(id="ex1", label="sad")], print) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 1}, Exemplar(id="ex1", label="sad").model_dump()]


def test_every_table_names_what_the_module_adds():
    """The names the framework reads from each file are the keys of the table the module defines."""
    from facelens.agent import cli

    for table in ("COMMANDS", "EVAL_COMMANDS", "BENCH_COMMANDS"):
        for name in cli.plugin_modules(table):
            declared = getattr(cli.load_command_module(name), table)
            assert cli._declared_names(cli._sources()[name], table) == list(declared), (name, table)
