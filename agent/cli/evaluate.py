"""``facelens eval ...``: evaluation commands anyone can run on their own labelled data.

Each evaluation lives in its own module of this package exposing ``register_eval(eval_subparsers)``
and ``HELP_ORDER`` (its place in ``facelens eval --help``); such a module is found without a list to edit.
"""

from __future__ import annotations

import argparse

from facelens.agent.cli import command_group, load_command_module, plugin_modules

EVAL_MODULES = plugin_modules("register_eval")


#: the commands register() adds, and their place in ``facelens --help`` (facelens.agent.cli reads both
#: from this file without importing it)
COMMANDS = ("eval",)
HELP_ORDER = 50


def register(sub: argparse._SubParsersAction) -> None:
    esub = command_group(sub, "eval", "evaluate models on a labelled folder", metavar="WHAT")
    for name in EVAL_MODULES:
        load_command_module(name).register_eval(esub)  # a broken module is an error, not a missing command
