"""``facelens cache clear``: housekeeping for the local state under FACELENS_HOME."""

from __future__ import annotations

import argparse

from facelens.agent.cli import Command, Group

HELP_ORDER = 130


def cmd_cache_clear(args: argparse.Namespace) -> int:
    from facelens.tools.scene import clear_cache

    n = clear_cache()
    print(f"Deleted {n} cached analysis file(s) (they held face embeddings).")
    return 0


def cmd_where(args: argparse.Namespace) -> int:
    from facelens.tools import config

    print(config.home())
    return 0


COMMANDS = {
    "cache": Group(
        "the analysis cache (holds face embeddings)",
        {"clear": Command(cmd_cache_clear, help="delete every cached analysis")},
    ),
    "home": Command(cmd_where, help="print FACELENS_HOME, where the gallery, cache and sessions live"),
}
