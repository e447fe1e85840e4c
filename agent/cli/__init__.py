"""The ``facelens`` command line.

Each command group lives in its own module under ``facelens.agent.cli`` and exposes
``register(subparsers)``; add a module name to ``COMMAND_MODULES`` to add commands. Handlers return
an exit code. Errors from facelens print one clear line (no traceback) and exit with 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys

from facelens.tools.errors import DependencyError, FacelensError

log = logging.getLogger("facelens")

#: command modules, each with register(subparsers); order = order in --help
COMMAND_MODULES = ["assistant", "photo", "gallery", "exemplars", "evaluate", "bench", "speech", "session", "ui", "serve", "mcp", "live", "misc", "doctor"]
#: the module that registers each command, so that answering one command imports one module
#: (tests/test_detection_default.py checks it against what the modules register)
COMMANDS = {
    "ask": "assistant", "chat": "assistant", "analyze": "photo", "example": "photo", "enroll": "gallery",
    "identify": "gallery", "gallery": "gallery", "exemplars": "exemplars", "describe": "exemplars", "eval": "evaluate",
    "bench": "bench", "transcribe": "speech", "session": "session", "ui": "ui", "serve": "serve", "apikey": "serve",
    "mcp": "mcp", "live": "live", "cache": "misc", "home": "misc", "doctor": "doctor",
}


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
        load_command_module(name).register(sub)
    return parser


def load_command_module(name: str):  # type: ignore[no-untyped-def]
    """Import ``facelens.agent.cli.NAME``. Command modules import their heavy dependencies inside the
    handlers, so an import failure here is a broken install or a bug: it stops the CLI with a clear
    error instead of making the commands silently vanish."""
    try:
        return importlib.import_module(f"facelens.agent.cli.{name}")
    except ImportError as exc:
        raise DependencyError(f"The facelens command module '{name}' failed to import: {exc}.",
                              hint="Reinstall facelens (bash setup.sh, or pip install -e '.[all]'); run with --debug for details.") from exc


def print_json(data: object) -> None:
    """Print JSON to stdout (the CLI's --json output)."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


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
        print(f"facelens: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
