"""``facelens eval ...``: evaluation commands anyone can run on their own labelled data.

Each evaluation lives in its own module exposing ``register_eval(eval_subparsers)``; list it in
``EVAL_MODULES``.
"""

from __future__ import annotations

import argparse

EVAL_MODULES = ["eval_models", "eval_detection", "eval_identity", "eval_planner", "eval_text", "eval_sessions", "eval_suite", "eval_wild"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate models on a labelled folder")
    esub = p.add_subparsers(dest="eval_command", metavar="WHAT")
    p.set_defaults(handler=lambda args: p.print_help() or 0)
    from facelens.agent.cli import load_command_module

    for name in EVAL_MODULES:
        load_command_module(name).register_eval(esub)  # a broken module is an error, not a missing command
