"""``facelens cache clear``: housekeeping for the local state under FACELENS_HOME."""

from __future__ import annotations

import argparse

from facelens.agent.cli import CommandTable

HELP_ORDER = 130
COMMANDS = CommandTable()


CACHE = COMMANDS.group("cache", "the analysis cache (holds face embeddings)")


@CACHE.command("clear")
def cmd_cache_clear(args: argparse.Namespace) -> int:
    """delete every cached analysis"""
    from facelens.tools.scene import clear_cache

    n = clear_cache()
    print(f"Deleted {n} cached analysis file(s) (they held face embeddings).")
    return 0


@COMMANDS.command("home")
def cmd_where(args: argparse.Namespace) -> int:
    """print FACELENS_HOME, where the gallery, cache and sessions live"""
    from facelens.tools import config

    print(config.home())
    return 0
