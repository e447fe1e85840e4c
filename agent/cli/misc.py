"""``facelens cache clear``: housekeeping for the local state under FACELENS_HOME."""

from __future__ import annotations

import argparse

from facelens.agent.cli import command_group


def cmd_cache_clear(args: argparse.Namespace) -> int:
    from facelens.tools.scene import clear_cache

    n = clear_cache()
    print(f"Deleted {n} cached analysis file(s) (they held face embeddings).")
    return 0


def cmd_where(args: argparse.Namespace) -> int:
    from facelens.tools import config

    print(config.home())
    return 0


#: the commands register() adds, and their place in ``facelens --help`` (facelens.agent.cli reads both
#: from this file without importing it)
COMMANDS = ("cache", "home")
HELP_ORDER = 130


def register(sub: argparse._SubParsersAction) -> None:
    csub = command_group(sub, "cache", "the analysis cache (holds face embeddings)")
    p = csub.add_parser("clear", help="delete every cached analysis")
    p.set_defaults(handler=cmd_cache_clear)
    p = sub.add_parser("home", help="print FACELENS_HOME, where the gallery, cache and sessions live")
    p.set_defaults(handler=cmd_where)
