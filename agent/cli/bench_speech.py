"""``facelens bench transcribe-short``: word accuracy on short spoken questions and digits (espeak-ng,
16 and 8 kHz), before (long-recording settings) and after (the short-question settings).
The logic is in :mod:`facelens.eval.speech`."""

from __future__ import annotations

import argparse
import sys

from facelens.agent.cli import Command, print_json
from facelens.agent.cli.options import add_json_flag

HELP_ORDER = 20


def _cmd(args: argparse.Namespace) -> int:
    from facelens.eval import speech

    splits = tuple(args.split) if args.split else ("tune", "heldout")
    out = speech.run(splits, model=args.model)
    if args.json:
        print_json(out)
        return 0
    print(f"{out['model']}: word accuracy / exact utterance / median latency, before -> after")
    for key, b in out["before"].items():
        a = out["after"][key]
        print(
            f"  {key:<22} {b['word_accuracy']:.3f} / {b['exact']:.3f} / {b['latency_ms_median']:.0f} ms -> "
            f"{a['word_accuracy']:.3f} / {a['exact']:.3f} / {a['latency_ms_median']:.0f} ms  ({a['clips']} clips)"
        )
    print(f"{len(out['errors_after'])} clips still wrong after (see --json)", file=sys.stderr)
    return 0


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--split", action="append", choices=["tune", "heldout"], help="only this split (repeatable; default both)"
    )
    p.add_argument("--model", default=None)
    add_json_flag(p)


BENCH_COMMANDS = {
    "transcribe-short": Command(
        _cmd,
        help="word accuracy on short spoken questions and digits (espeak-ng, 16 and 8 kHz)",
        arguments=_arguments,
    ),
}
