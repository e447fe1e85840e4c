"""The ``facelens`` command line.

Each command group lives in its own module under ``facelens.agent.cli`` that declares ``COMMANDS = CommandTable()``
(the commands it adds) and ``HELP_ORDER`` (its place in ``facelens --help``): a new module of that shape is a new
command, found by :func:`plugin_modules` without a list to edit. A command is declared where its handler is, by
``@COMMANDS.command("name", arguments=...)``: the handler's docstring gives the help line (its first paragraph)
and the description (the rest), ``arguments`` adds the command's own arguments; ``COMMANDS.group(...)`` makes a
command of sub-commands. The framework turns each table into the parser; a module that needs more (``evaluate``,
``bench``) defines ``register(subparsers)`` instead and declares ``COMMANDS`` as a tuple of the names it adds.
``facelens eval`` and ``facelens bench`` are filled the same way from ``EVAL_COMMANDS`` and ``BENCH_COMMANDS``
tables. The names are read from the source files, not imported, so that answering one command imports one
module. Handlers return an exit code (:func:`emit` prints a result as text or, with ``--json``, as JSON).
Errors from facelens print one clear line (no traceback) and exit with 2.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib
import inspect
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from facelens.tools.errors import DependencyError, FacelensError

log = logging.getLogger("facelens")

T = TypeVar("T")


@functools.cache
def _sources() -> dict[str, str]:
    """Module name -> source text, for every module of this package (``__init__``/``__main__`` aside)."""
    out: dict[str, str] = {}
    for folder in __path__:
        for path in sorted(Path(folder).glob("*.py")):
            if not path.stem.startswith("_"):
                out.setdefault(path.stem, path.read_text(encoding="utf-8"))
    return out


def _declared(source: str, name: str) -> str | None:
    """The right-hand side of a module's top-level ``NAME = ...`` line, if it has one."""
    m = re.search(rf"^{name} = ([^#\n]+)", source, re.MULTILINE)
    return m.group(1).strip() if m else None


def _declared_names(source: str, name: str) -> list[str]:
    """The command names a module's top-level ``NAME = ...`` declares: a tuple's strings, or, for
    ``NAME = CommandTable()``, the names of its ``@NAME.command("...")`` and ``X = NAME.group("...")`` lines,
    in the file's order."""
    value = _declared(source, name)
    if value is None:
        return []
    if value == "CommandTable()":
        pattern = rf"^(?:@{name}\.command|\w+ = {name}\.group)\(\s*\"([^\"]+)\""
        return re.findall(pattern, source, re.MULTILINE)
    return [item.value for item in getattr(ast.parse(value).body[0].value, "elts", [])]  # type: ignore[attr-defined]


def plugin_modules(table: str) -> list[str]:
    """The modules of this package that declare the top-level table ``table`` (``COMMANDS``,
    ``EVAL_COMMANDS``, ``BENCH_COMMANDS``), in the order of their ``HELP_ORDER`` (a module without one
    comes last). Read from the source files, not imported, so that answering one command imports one
    module."""
    pattern = re.compile(rf"^{table} = ", re.MULTILINE)
    found = [name for name, source in _sources().items() if pattern.search(source)]
    order = {name: int(_declared(_sources()[name], "HELP_ORDER") or 10**9) for name in found}
    return sorted(found, key=lambda name: (order[name], name))


#: command modules, each with a COMMANDS table (or register(subparsers)); order = order in --help
COMMAND_MODULES = plugin_modules("COMMANDS")
#: the module that registers each command (its ``COMMANDS``), so that answering one command imports one
#: module (tests/test_detection_default.py checks it against what the modules register)
COMMANDS = {command: name for name in COMMAND_MODULES for command in _declared_names(_sources()[name], "COMMANDS")}


#: a command's handler: the parsed arguments in, the exit code out
Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    """One command in a module's table: :func:`add_commands` adds its parser with this help line and
    description, lets ``arguments`` add the command's own arguments, and runs ``handler`` for it."""

    handler: Handler
    help: str
    description: str | None = None
    arguments: Callable[[argparse.ArgumentParser], None] | None = None

    @classmethod
    def of(
        cls,
        handler: Handler,
        arguments: Callable[[argparse.ArgumentParser], None] | None = None,
        *,
        description: str | None = None,
    ) -> Command:
        """The command that runs ``handler``: its help line is the first paragraph of the handler's
        docstring, its description the rest (or ``description``, for one computed from constants); each is
        folded to one line, as argparse prints it."""
        doc = inspect.cleandoc(handler.__doc__ or "")
        if not doc:
            raise TypeError(f"The command handler {handler.__qualname__} needs a docstring: its help line.")
        first, _, rest = doc.partition("\n\n")
        return cls(handler, " ".join(first.split()), description or " ".join(rest.split()) or None, arguments)


@dataclass(frozen=True)
class Group:
    """A command made of sub-commands (``facelens gallery list``): its help line and the table of its
    sub-commands (chosen into ``args.NAME_command``); alone it prints its help."""

    help: str
    commands: Mapping[str, Command | Group]
    metavar: str = "ACTION"


class CommandTable(dict[str, "Command | Group"]):
    """A module's commands, name -> :class:`Command` or :class:`Group`, in the order they are declared."""

    def command(
        self,
        name: str,
        arguments: Callable[[argparse.ArgumentParser], None] | None = None,
        *,
        description: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator: the handler below is the command ``name`` (see :meth:`Command.of`); it is returned as is."""

        def declare(handler: Handler) -> Handler:
            self[name] = Command.of(handler, arguments, description=description)
            return handler

        return declare

    def group(self, name: str, help: str, metavar: str = "ACTION") -> CommandTable:
        """Add the command ``name`` made of sub-commands; returns its table, to declare them in."""
        table = CommandTable()
        self[name] = Group(help, table, metavar)
        return table


def add_commands(sub: argparse._SubParsersAction, commands: Mapping[str, Command | Group]) -> None:
    """Add the commands of a table (see :class:`Command`, :class:`Group`) to ``sub``, in the table's order."""
    for name, spec in commands.items():
        if isinstance(spec, Group):
            add_commands(command_group(sub, name, spec.help, spec.metavar), spec.commands)
            continue
        parser = sub.add_parser(name, help=spec.help, description=spec.description)
        if spec.arguments is not None:
            spec.arguments(parser)
        parser.set_defaults(handler=spec.handler)


def register_module(sub: argparse._SubParsersAction, module: ModuleType) -> None:
    """Add a command module's commands: its own ``register(sub)`` where it has one, else its table."""
    register = getattr(module, "register", None)
    if register is not None:
        register(sub)
    else:
        add_commands(sub, module.COMMANDS)


def _command_of(argv: list[str]) -> str | None:
    """The command named in ``argv`` (the first word that is not a global option), if any."""
    for a in argv:
        if a in ("-h", "--help"):
            return None
        if not a.startswith("-"):
            return a
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser. Given ``argv`` naming a known command, only that command's module is imported
    (the others are checked to exist, not imported); otherwise every module registers."""
    command = _command_of(argv) if argv is not None else None
    names = COMMAND_MODULES
    if command in COMMANDS and COMMANDS[command] in COMMAND_MODULES:
        import importlib.util

        for name in COMMAND_MODULES:  # a module missing from the install stops the CLI, as a full build would
            if importlib.util.find_spec(f"facelens.agent.cli.{name}") is None:
                load_command_module(name)
        names = [COMMANDS[command]]
    parser = argparse.ArgumentParser(
        prog="facelens",
        description="Ask questions about the people in photos, audio and recorded sessions.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in names:
        register_module(sub, load_command_module(name))
    return parser


def load_command_module(name: str):  # type: ignore[no-untyped-def]
    """Import ``facelens.agent.cli.NAME``. Command modules import their heavy dependencies inside the
    handlers, so an import failure here is a broken install or a bug: it stops the CLI with a clear
    error instead of making the commands silently vanish."""
    try:
        return importlib.import_module(f"facelens.agent.cli.{name}")
    except ImportError as exc:
        raise DependencyError(
            f"The facelens command module '{name}' failed to import: {exc}.",
            hint="Reinstall facelens (bash setup.sh, or pip install -e '.[all]'); run with --debug for details.",
        ) from exc


def command_group(
    sub: argparse._SubParsersAction, name: str, help: str, metavar: str = "ACTION"
) -> argparse._SubParsersAction:
    """Add ``facelens NAME ...``, a command made of sub-commands (chosen into ``args.NAME_command``), which
    alone prints its help; returns the sub-parsers to add the sub-commands to."""
    parser = sub.add_parser(name, help=help)
    group = parser.add_subparsers(dest=f"{name}_command", metavar=metavar)
    parser.set_defaults(handler=lambda args: parser.print_help() or 0)
    return group


def print_json(data: object) -> None:
    """Print JSON to stdout (the CLI's --json output)."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _plain(result: object) -> object:
    """A result as JSON data: its ``to_dict()``, a pydantic model's ``model_dump()``, a list item by item."""
    if isinstance(result, list):
        return [_plain(item) for item in result]
    if hasattr(result, "to_dict"):
        return result.to_dict()
    if hasattr(result, "model_dump"):
        return result.model_dump()
    return result


def emit(args: argparse.Namespace, result: T, print_text: Callable[[T], object]) -> int:
    """Print a command's result: with ``--json`` as JSON (see :func:`_plain`), else as text by
    ``print_text(result)``. Returns 0, the exit code of a command that got its result."""
    if getattr(args, "json", False):
        print_json(_plain(result))
    else:
        print_text(result)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv_list = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser(argv_list)
    except FacelensError as exc:
        if "--debug" in (sys.argv[1:] if argv is None else argv):
            raise
        print(f"facelens: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv_list)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except FacelensError as exc:
        if getattr(args, "json", False):
            print_json(exc.to_dict())
        print(f"facelens: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facelens: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # last resort: one line, and a way to see more
        from facelens.tools.atomic import storage_error

        mapped = storage_error(exc)  # a full, read-only or failing disk is the user's to fix, not a bug
        if mapped is not None and not args.debug:
            if getattr(args, "json", False):
                print_json(mapped.to_dict())
            print(f"facelens: {mapped}", file=sys.stderr)
            return 2
        if args.debug:
            raise
        print(
            f"facelens: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for details)", file=sys.stderr
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
