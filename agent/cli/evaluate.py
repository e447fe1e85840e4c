"""``facelens eval ...``: evaluation commands anyone can run on their own labelled data.

Each evaluation lives in its own module of this package declaring ``EVAL_COMMANDS = CommandTable()`` (see
:class:`facelens.agent.cli.CommandTable`) and ``HELP_ORDER`` (its place in ``facelens eval --help``); such a
module is found without a list to edit.
"""

from __future__ import annotations

import argparse

from facelens.agent.cli import add_commands, command_group, load_command_module, plugin_modules

HELP_ORDER = 50
COMMANDS = ("eval",)  # register() adds it: the group that the EVAL_COMMANDS of the other modules fill
EVAL_MODULES = plugin_modules("EVAL_COMMANDS")


def register(sub: argparse._SubParsersAction) -> None:
    esub = command_group(sub, "eval", "evaluate models on a labelled folder", metavar="WHAT")
    for name in EVAL_MODULES:  # a broken module is an error, not a missing command
        add_commands(esub, load_command_module(name).EVAL_COMMANDS)
