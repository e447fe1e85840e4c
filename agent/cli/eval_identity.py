"""``facelens eval identity DIR``: tune the open-set identity threshold on labelled photos."""

from __future__ import annotations

import argparse

from facelens.agent.cli import CommandTable, emit
from facelens.agent.cli.options import add_detector_option, add_json_flag

HELP_ORDER = 30
EVAL_COMMANDS = CommandTable()


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="folder with images and identities.csv (file,person)")
    p.add_argument(
        "--far", type=float, default=0.001, help="target false-accept rate per impostor pair (default 0.001)"
    )
    add_json_flag(p)
    add_detector_option(p)


@EVAL_COMMANDS.command("identity", _arguments)
def cmd_identity(args: argparse.Namespace) -> int:
    """false-accept/false-reject rates and a suggested identity threshold"""
    from facelens.eval.identity import evaluate

    return emit(args, evaluate(args.folder, far_target=args.far, detector=args.detector), _print_identity)


def _print_identity(res) -> None:
    s, e = res["suggested_threshold"], res["equal_error"]
    print(
        f"{res['embedding']} embedding: {res['n_faces']} faces of {res['n_people']} people; {res['genuine_pairs']} genuine and {res['impostor_pairs']} impostor pairs"
    )
    print(f"suggested threshold {s['threshold']:.2f}: false accepts {s['far']:.2%}, false rejects {s['frr']:.2%}")
    print(f"equal error near {e['threshold']:.2f}: FAR {e['far']:.2%}, FRR {e['frr']:.2%}")
    for sk in res["skipped"]:
        print(f"  skipped {sk['file']}: {sk['reason']}")
