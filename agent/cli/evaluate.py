"""``facelens eval ...``: evaluation commands anyone can run on their own labelled data.

Each evaluation lives in its own module exposing ``register_eval(eval_subparsers)``; list it in
``EVAL_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import logging

log = logging.getLogger(__name__)

EVAL_MODULES = ["eval_models", "eval_detection", "eval_identity", "eval_planner", "eval_suite"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate models on a labelled folder")
    esub = p.add_subparsers(dest="eval_command", metavar="WHAT")
    p.set_defaults(handler=lambda args: p.print_help() or 0)
    for name in EVAL_MODULES:
        try:
            mod = importlib.import_module(f"facelens.agent.cli.{name}")
        except ImportError as exc:
            log.debug("eval module %s unavailable: %s", name, exc)
            continue
        mod.register_eval(esub)
