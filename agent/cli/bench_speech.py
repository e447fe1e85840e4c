"""``facelens bench transcribe-short``: word accuracy on short spoken questions and digits (espeak-ng,
16 and 8 kHz), before (long-recording settings) and after (the short-question settings).
The logic is in :mod:`facelens.eval.speech`."""

from __future__ import annotations

import argparse
import sys

from facelens.agent.cli import CommandTable, emit
from facelens.agent.cli.options import add_json_flag

HELP_ORDER = 20
BENCH_COMMANDS = CommandTable()


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--split", action="append", choices=["tune", "heldout"], help="only this split (repeatable; default both)"
    )
    p.add_argument("--model", default=None)
    add_json_flag(p)


@BENCH_COMMANDS.command("transcribe-short", _arguments)
def _cmd(args: argparse.Namespace) -> int:
    """word accuracy on short spoken questions and digits (espeak-ng, 16 and 8 kHz)"""
    from facelens.eval import speech

    splits = tuple(args.split) if args.split else ("tune", "heldout")
    return emit(args, speech.run(splits, model=args.model), _print_speech)


def _print_speech(out) -> None:
    print(f"{out['model']}: word accuracy / exact utterance / median latency, before -> after")
    for key, b in out["before"].items():
        a = out["after"][key]
        print(
            f"  {key:<22} {b['word_accuracy']:.3f} / {b['exact']:.3f} / {b['latency_ms_median']:.0f} ms -> "
            f"{a['word_accuracy']:.3f} / {a['exact']:.3f} / {a['latency_ms_median']:.0f} ms  ({a['clips']} clips)"
        )
    print(f"{len(out['errors_after'])} clips still wrong after (see --json)", file=sys.stderr)
